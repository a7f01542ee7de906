//! One enabled `MQTTClient`'s live connection to an external broker: an event-loop task that keeps a rumqttc connection
//! up (backoff, fallback URLs, resubscribe on every ConnAck, truthful status) and feeds what it
//! receives into the client's [`Consumer`], which dispatches in order and acknowledges each
//! message only once its outcome is durable, so QoS 1 and 2 are at-least-once.
//!
//! The event loop keeps reading while callbacks run, so pings and acks are never stuck behind
//! unread publishes (a connection that stopped reading would miss its keep-alive, reconnect, and
//! lose a clean session's backlog). What arrives ahead of the callbacks waits in a
//! [`Backlog`] (bounded memory, the rest on disk), unacknowledged, so the broker still owns it.
//! A QoS 0 publish that finds the consumer's queue full is dropped, counted and logged instead,
//! as QoS 0 allows.

use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumqttc::QoS;
use switchyard_broker::{BoxFuture, Consumer, Delivery, Inbound, Incoming, Status, Topics};
use switchyard_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backlog::{Backlog, Held};
use crate::settings::{MAX_PACKET, PUBLISH_OVERHEAD, Settings};
use crate::wire::{self, Client, Event, Events, Failure, Received};
use crate::{Error, Result};

/// Received messages waiting for the worker.
const WORKER_QUEUE: usize = 64;
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a clean disconnect may take before the socket is just dropped.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A running connection, as the manager holds it.
pub struct Remote {
    /// What the connection was started with; a change means a restart.
    pub(crate) settings: Settings,
    pub(crate) link: Arc<Link>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Remote {
    /// Starts connecting in the background. `filters` are the subscribers' filters in MQTT syntax.
    pub fn start(
        id: &str,
        settings: Settings,
        store: Store,
        inbound: Arc<dyn Inbound>,
        filters: BTreeSet<String>,
    ) -> Result<Remote> {
        let backlog = Backlog::open(&store.dir().join("mqtt-backlog").join(id))?;
        let session = settings.session_id(store.instance_id());
        let (client, eventloop) = wire::connect(&settings, &session, &settings.endpoints[0]);
        let link = Arc::new(Link {
            id: id.to_owned(),
            client,
            qos: settings.qos,
            filter_prefix: settings.filter_prefix(),
            connected: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            topics: Mutex::new(Topics::new(filters)),
        });
        let (stop, stop_rx) = watch::channel(false);
        let driver = Driver {
            link: link.clone(),
            settings: settings.clone(),
            session,
            eventloop,
            consumer: Consumer::start(store.tenant(), id, inbound, WORKER_QUEUE),
            backlog,
            stop: stop_rx,
            status: Status::new(store, id),
            dropped: 0,
        };
        Ok(Remote {
            settings,
            link,
            stop,
            task: Mutex::new(Some(tokio::spawn(driver.run()))),
        })
    }

    /// Disconnects cleanly and waits until the status says so. A callback still running
    /// finishes, but nothing else is dispatched.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().take();
        if let Some(Err(e)) = match task {
            Some(task) => Some(task.await),
            None => None,
        } {
            tracing::error!(client = %self.link.id, "MQTT connection task failed: {e}");
        }
    }
}

/// What the manager, the event loop and the worker share about one connection.
pub(crate) struct Link {
    /// The client object's id.
    id: String,
    client: Client,
    qos: QoS,
    /// `$share/<group>/` for a member of a share group, otherwise empty.
    filter_prefix: String,
    connected: AtomicBool,
    /// Counts connections made and lost. An ack for a message from an earlier connection is not
    /// sent: its packet id may belong to another message now, and the broker redelivers it if
    /// the session lives.
    generation: AtomicU64,
    topics: Mutex<Topics>,
}

impl Link {
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Publishes at the client's QoS.
    pub async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<()> {
        if switchyard_topic::validate_name(topic).is_err() {
            return Err(Error::InvalidTopic(topic.to_owned()));
        }
        // rumqttc would drop the connection over an oversized packet; refuse it here instead.
        let max = MAX_PACKET.saturating_sub(PUBLISH_OVERHEAD + topic.len());
        if payload.len() > max {
            return Err(Error::PayloadTooLarge(payload.len(), max));
        }
        if !self.is_connected() {
            return Err(Error::NotConnected(self.id.clone()));
        }
        self.request(self.client.publish(topic, self.qos, payload))
            .await
    }

    /// Replaces the subscribers' filters and (un)subscribes the difference.
    pub async fn set_filters(&self, filters: BTreeSet<String>) -> Result<()> {
        self.change_topics(|topics| topics.set_filters(filters))
            .await
    }

    /// Adds a filter for the rest of this connection's life.
    pub async fn subscribe(&self, filter: String) -> Result<()> {
        self.change_topics(|topics| topics.add(filter)).await
    }

    /// Drops a filter, whether added with [`Link::subscribe`] or a subscriber's.
    pub async fn unsubscribe(&self, filter: &str) -> Result<()> {
        self.change_topics(|topics| topics.remove(filter)).await
    }

    async fn change_topics(&self, change: impl FnOnce(&mut Topics)) -> Result<()> {
        let (added, removed) = {
            let mut topics = self.topics.lock();
            let before = topics.all();
            change(&mut topics);
            let after = topics.all();
            let added: Vec<_> = after.difference(&before).cloned().collect();
            let removed: Vec<_> = before.difference(&after).cloned().collect();
            (added, removed)
        };
        // While disconnected there is nothing to tell: every ConnAck subscribes the current set.
        if !self.is_connected() {
            return Ok(());
        }
        if !added.is_empty() {
            let added = added.into_iter().map(|f| self.on_wire(f)).collect();
            self.request(self.client.subscribe(added, self.qos)).await?;
        }
        for filter in removed {
            self.request(self.client.unsubscribe(self.on_wire(filter)))
                .await?;
        }
        Ok(())
    }

    /// A filter as the client subscribes it (within its share group, if any).
    fn on_wire(&self, filter: String) -> String {
        match self.filter_prefix.is_empty() {
            true => filter,
            false => format!("{}{filter}", self.filter_prefix),
        }
    }

    /// Acknowledges the message `pkid` received on connection `generation`.
    async fn ack(&self, generation: u64, qos: QoS, pkid: u16) {
        if generation == self.generation.load(Ordering::SeqCst) {
            // Fails only when the connection is being stopped; the broker then redelivers.
            let _ = self.request(self.client.ack(qos, pkid)).await;
        }
    }

    /// Hands a request to the event loop.
    async fn request(&self, send: impl Future<Output = Result<(), ()>>) -> Result<()> {
        send.await.map_err(|_| Error::NotConnected(self.id.clone()))
    }
}

/// A received message on its way through the consumer. It owns a copy of the payload: the
/// `Publish` rumqttc hands out is a slice of its read buffer, and keeping it would pin that
/// whole buffer (many messages' worth) for as long as the message waits.
struct MqttDelivery {
    link: Arc<Link>,
    held: Held,
}

impl Delivery for MqttDelivery {
    fn incoming(&self) -> Incoming {
        Incoming {
            client_id: self.link.id.clone(),
            topic: self.held.topic.clone(),
            payload: self.held.payload.clone(),
            headers: self.held.headers.clone(),
            received_at_ms: self.held.received_at_ms,
            ..Incoming::default()
        }
    }

    fn acknowledge(self) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let held = &self.held;
            if let Ok(qos @ (QoS::AtLeastOnce | QoS::ExactlyOnce)) = rumqttc::qos(held.qos) {
                self.link.ack(held.generation, qos, held.pkid).await;
            }
        })
    }
}

/// The event-loop task's state.
struct Driver {
    link: Arc<Link>,
    settings: Settings,
    /// The client id it connects with.
    session: String,
    eventloop: Events,
    consumer: Consumer<MqttDelivery>,
    /// QoS 1 and 2 messages the full queue could not take yet.
    backlog: Backlog,
    stop: watch::Receiver<bool>,
    /// The status on the client object.
    status: Status,
    /// QoS 0 messages dropped because the queue was full.
    dropped: u64,
}

impl Driver {
    async fn run(mut self) {
        let mut endpoint = 0;
        let mut backoff = BACKOFF_MIN;
        loop {
            self.hand_over();
            let event = tokio::select! {
                biased;
                _ = stopped(&mut self.stop) => break,
                event = self.eventloop.poll() => event,
            };
            match event {
                Ok(Event::ConnAck) => {
                    backoff = BACKOFF_MIN;
                    self.connected(endpoint);
                }
                Ok(Event::Publish(publish)) => self.received(publish),
                Ok(Event::Refused) => {
                    tracing::warn!(client = %self.link.id, "the broker refused a subscription");
                }
                Ok(_) => {}
                Err(Failure(error)) => {
                    // Acks for this connection's messages must not reach the next one: their
                    // packet ids would name other messages there.
                    self.link.generation.fetch_add(1, Ordering::SeqCst);
                    let shown = &self.settings.endpoints[endpoint].shown;
                    let message = format!("{shown}: {error}");
                    tracing::warn!(client = %self.link.id, "MQTT connection failed: {message}");
                    self.link.connected.store(false, Ordering::SeqCst);
                    self.report(false, Some(message));
                    // Fallbacks are tried right away; a full round ends in a pause.
                    endpoint = (endpoint + 1) % self.settings.endpoints.len();
                    if endpoint == 0 {
                        tokio::select! {
                            biased;
                            _ = stopped(&mut self.stop) => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                    let target = &self.settings.endpoints[endpoint];
                    (self.eventloop).retarget(&self.settings, &self.session, target);
                }
            }
        }
        self.disconnect().await;
    }

    /// Queues a received message for the consumer; see the module docs for what happens
    /// when its queue is full.
    fn received(&mut self, publish: Received) {
        let mut held = Held {
            generation: self.link.generation.load(Ordering::SeqCst),
            received_at_ms: now_ms(),
            pkid: publish.pkid,
            qos: publish.qos as u8,
            topic: publish.topic,
            payload: publish.payload,
            headers: publish.headers,
        };
        if self.backlog.is_empty() {
            let delivery = MqttDelivery {
                link: self.link.clone(),
                held,
            };
            match self.consumer.try_push(delivery) {
                Ok(()) => return,
                Err(delivery) => held = delivery.held,
            }
        }
        if publish.qos == QoS::AtMostOnce {
            self.dropped += 1;
            // Logged at 1, 2, 4, 8, ... drops: visible without flooding the log.
            if self.dropped.is_power_of_two() {
                tracing::warn!(
                    client = %self.link.id,
                    topic = %held.topic,
                    "callbacks are behind: dropped a QoS 0 message ({} so far on this connection)",
                    self.dropped
                );
            }
            return;
        }
        if let Err(e) = self.backlog.push(held) {
            // Unacknowledged, so a persistent session gets it again after a reconnect.
            tracing::error!(client = %self.link.id, "cannot keep a received message: {e}");
        }
    }

    /// Moves waiting messages to the consumer while its queue has room.
    fn hand_over(&mut self) {
        loop {
            let held = match self.backlog.pop() {
                Ok(Some(held)) => held,
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(client = %self.link.id, "cannot read the backlog: {e}");
                    return;
                }
            };
            let delivery = MqttDelivery {
                link: self.link.clone(),
                held,
            };
            if let Err(delivery) = self.consumer.try_push(delivery) {
                self.backlog.unpop(delivery.held);
                return;
            }
        }
    }

    fn connected(&mut self, endpoint: usize) {
        let shown = &self.settings.endpoints[endpoint].shown;
        tracing::info!(client = %self.link.id, "MQTT client connected to {shown}");
        self.link.generation.fetch_add(1, Ordering::SeqCst);
        self.link.connected.store(true, Ordering::SeqCst);
        self.report(true, None);
        // Queued ahead of everything users send, straight into the event loop: nothing to wait for.
        let filters = self.link.topics.lock().all();
        if !filters.is_empty() {
            let filters = filters.into_iter().map(|f| self.link.on_wire(f)).collect();
            (self.eventloop).subscribe_first(filters, self.link.qos);
        }
    }

    async fn disconnect(mut self) {
        self.consumer.stop();
        if self.link.connected.swap(false, Ordering::SeqCst) {
            self.eventloop.disconnect();
            let sent = async {
                loop {
                    match self.eventloop.poll().await {
                        Ok(Event::Disconnected) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            };
            let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, sent).await;
            tracing::info!(client = %self.link.id, "MQTT client disconnected");
        }
        self.report(false, None);
    }

    /// Writes `isConnected` and `lastError` when they changed.
    fn report(&mut self, connected: bool, error: Option<String>) {
        self.status.report(connected, error);
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // A dropped sender means the connection is gone too.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Milliseconds since the epoch: when a message was received.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
