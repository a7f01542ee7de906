//! One enabled `MQTTClient`'s live connection: an event-loop task that keeps a rumqttc connection
//! up (backoff, fallback URLs, resubscribe on every ConnAck, truthful status) and a worker task
//! that dispatches received messages in order and acknowledges each only after its callbacks
//! finished, so QoS 1 and 2 are at-least-once.
//!
//! The two tasks are split so the event loop keeps answering pings while a callback runs. They
//! meet in a bounded queue; when it is full the event loop holds its latest message back and
//! stops polling, which stops reading from the broker: a slow callback slows consumption instead
//! of growing memory. It still polls now and then (half the keep-alive) to keep the connection
//! alive, and whenever someone waits to send a request (an ack, a callback's publish), because
//! only polling drains requests; otherwise a callback publishing through its own client could
//! wait on the event loop that waits on the callback.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumqttc::{
    AsyncClient, ClientError, ConnectReturnCode, ConnectionError, Disconnect, Event, EventLoop,
    Outgoing, Packet, Publish, QoS, Request, Subscribe, SubscribeFilter, SubscribeReasonCode,
};
use serde_json::Value;
use switchyard_dispatch::{Inbound, Incoming};
use switchyard_store::{Object, Store};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::settings::{MAX_PACKET, REQUEST_CAPACITY, Settings};
use crate::{Error, Result};

/// Received messages waiting for the worker.
const WORKER_QUEUE: usize = 64;
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often a held-up event loop polls anyway, to keep the connection alive (keep-alive is 30 s).
const KEEP_POLLING: Duration = Duration::from_secs(15);
/// Bytes of a PUBLISH packet besides topic and payload, at most: fixed header with the
/// longest length encoding, topic length, packet id.
const PUBLISH_OVERHEAD: usize = 1 + 4 + 2 + 2;
/// How long a clean disconnect may take before the socket is just dropped.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A running connection, as the manager holds it.
pub(crate) struct Connection {
    /// What the connection was started with; a change means a restart.
    pub settings: Settings,
    pub link: Arc<Link>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Connection {
    /// Starts connecting in the background. `filters` are the subscribers' filters in MQTT syntax.
    pub fn start(
        id: &str,
        settings: Settings,
        store: Store,
        inbound: Arc<dyn Inbound>,
        filters: BTreeSet<String>,
    ) -> Connection {
        let (client, eventloop) =
            AsyncClient::new(settings.options(&settings.endpoints[0]), REQUEST_CAPACITY);
        let link = Arc::new(Link {
            id: id.to_owned(),
            client,
            qos: settings.qos,
            connected: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            topics: Mutex::new(Topics {
                filters,
                extra: BTreeSet::new(),
                muted: BTreeSet::new(),
            }),
            waiting: AtomicUsize::new(0),
            wake: Notify::new(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let (queue, deliveries) = mpsc::channel(WORKER_QUEUE);
        tokio::spawn(work(link.clone(), inbound, deliveries, stop_rx.clone()));
        let driver = Driver {
            link: link.clone(),
            settings: settings.clone(),
            store,
            eventloop,
            queue,
            held: VecDeque::new(),
            stop: stop_rx,
            reported: None,
        };
        Connection {
            settings,
            link,
            stop,
            task: tokio::spawn(driver.run()),
        }
    }

    /// Disconnects cleanly and waits until the status says so. A callback still running
    /// finishes, but nothing else is dispatched.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(client = %self.link.id, "MQTT connection task failed: {e}");
        }
    }
}

/// What the manager, the event loop and the worker share about one connection.
pub(crate) struct Link {
    /// The client object's id.
    id: String,
    client: AsyncClient,
    qos: QoS,
    connected: AtomicBool,
    /// Counts ConnAcks. An ack for a message from an earlier connection is not sent: its packet
    /// id may belong to another message now, and the broker redelivers it if the session lives.
    generation: AtomicU64,
    topics: Mutex<Topics>,
    /// Tasks waiting to hand a request to the event loop; see the module docs.
    waiting: AtomicUsize,
    wake: Notify,
}

/// The topic filters a connection subscribes to, in MQTT syntax.
struct Topics {
    /// From the subscribers linked to the client.
    filters: BTreeSet<String>,
    /// Added through `Outbound::subscribe`; kept for the connection's life.
    extra: BTreeSet<String>,
    /// Subscribers' filters dropped through `Outbound::unsubscribe` (Structr's
    /// `mqttUnsubscribe`), until subscribed again or the connection is restarted.
    muted: BTreeSet<String>,
}

impl Topics {
    fn all(&self) -> BTreeSet<String> {
        (self.filters.union(&self.extra))
            .filter(|f| !self.muted.contains(*f))
            .cloned()
            .collect()
    }
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
        self.request(self.client.publish(topic, self.qos, false, payload))
            .await
    }

    /// Replaces the subscribers' filters and (un)subscribes the difference.
    pub async fn set_filters(&self, filters: BTreeSet<String>) -> Result<()> {
        self.change_topics(|topics| topics.filters = filters).await
    }

    /// Adds a filter for the rest of this connection's life.
    pub async fn subscribe(&self, filter: String) -> Result<()> {
        self.change_topics(|topics| {
            topics.muted.remove(&filter);
            topics.extra.insert(filter);
        })
        .await
    }

    /// Drops a filter, whether added with [`Link::subscribe`] or a subscriber's.
    pub async fn unsubscribe(&self, filter: &str) -> Result<()> {
        self.change_topics(|topics| {
            topics.extra.remove(filter);
            if topics.filters.contains(filter) {
                topics.muted.insert(filter.to_owned());
            }
        })
        .await
    }

    async fn change_topics(&self, change: impl FnOnce(&mut Topics)) -> Result<()> {
        let (added, removed) = {
            let mut topics = self.topics.lock().expect("topics lock");
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
            let filters = added.into_iter().map(|f| SubscribeFilter::new(f, self.qos));
            self.request(self.client.subscribe_many(filters)).await?;
        }
        for filter in removed {
            self.request(self.client.unsubscribe(filter)).await?;
        }
        Ok(())
    }

    /// Acknowledges a message received on connection `generation`.
    async fn ack(&self, generation: u64, publish: &Publish) {
        if generation == self.generation.load(Ordering::SeqCst) {
            // Fails only when the connection is being stopped; the broker then redelivers.
            let _ = self.request(self.client.ack(publish)).await;
        }
    }

    /// Hands a request to the event loop, telling it that someone waits.
    async fn request(&self, send: impl Future<Output = Result<(), ClientError>>) -> Result<()> {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        self.wake.notify_one();
        send.await.map_err(|_| Error::NotConnected(self.id.clone()))
    }
}

/// A received message on its way to the worker.
struct Delivery {
    generation: u64,
    publish: Publish,
    received_at_ms: u64,
}

/// Dispatches messages in order and acknowledges each afterwards.
async fn work(
    link: Arc<Link>,
    inbound: Arc<dyn Inbound>,
    mut deliveries: mpsc::Receiver<Delivery>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let delivery = tokio::select! {
            biased;
            _ = stopped(&mut stop) => return,
            delivery = deliveries.recv() => match delivery {
                Some(delivery) => delivery,
                None => return,
            },
        };
        let publish = &delivery.publish;
        let message = Incoming {
            client_id: link.id.clone(),
            topic: publish.topic.clone(),
            payload: publish.payload.to_vec(),
            received_at_ms: delivery.received_at_ms,
            ..Incoming::default()
        };
        // In a task of its own, so a panicking dispatch cannot take the client down with it. The
        // message is acknowledged anyway: delivered again, it would only panic again.
        let inbound = inbound.clone();
        if let Err(e) = tokio::spawn(async move { inbound.dispatch(message).await }).await {
            tracing::error!(client = %link.id, topic = %publish.topic, "dispatch failed: {e}");
        }
        if publish.qos != QoS::AtMostOnce {
            link.ack(delivery.generation, publish).await;
        }
    }
}

/// The event-loop task's state.
struct Driver {
    link: Arc<Link>,
    settings: Settings,
    store: Store,
    eventloop: EventLoop,
    queue: mpsc::Sender<Delivery>,
    /// Messages the full queue could not take yet.
    held: VecDeque<Delivery>,
    stop: watch::Receiver<bool>,
    /// The status last written, so repeated failures do not rewrite it.
    reported: Option<(bool, Option<String>)>,
}

impl Driver {
    async fn run(mut self) {
        let mut endpoint = 0;
        let mut backoff = BACKOFF_MIN;
        loop {
            if self.hand_over().await.is_err() {
                break;
            }
            let event = tokio::select! {
                biased;
                _ = stopped(&mut self.stop) => break,
                event = self.eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    backoff = BACKOFF_MIN;
                    self.connected(endpoint);
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    self.held.push_back(Delivery {
                        generation: self.link.generation.load(Ordering::SeqCst),
                        publish,
                        received_at_ms: now_ms(),
                    });
                }
                Ok(Event::Incoming(Packet::SubAck(suback))) => {
                    if suback.return_codes.contains(&SubscribeReasonCode::Failure) {
                        tracing::warn!(client = %self.link.id, "the broker refused a subscription");
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    let shown = &self.settings.endpoints[endpoint].shown;
                    let message = format!("{shown}: {}", describe(&error));
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
                    self.eventloop.mqtt_options =
                        self.settings.options(&self.settings.endpoints[endpoint]);
                }
            }
        }
        self.disconnect().await;
    }

    /// Moves held messages to the worker. While the queue stays full, waits for room, for
    /// someone who needs the event loop polled, or for the next keep-alive poll. Fails when
    /// the connection is being stopped.
    async fn hand_over(&mut self) -> std::result::Result<(), ()> {
        while let Some(delivery) = self.held.pop_front() {
            match self.queue.try_send(delivery) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(delivery)) => {
                    self.held.push_front(delivery);
                    break;
                }
                // The worker only quits when stopping.
                Err(mpsc::error::TrySendError::Closed(_)) => return Err(()),
            }
        }
        while !self.held.is_empty() && self.link.waiting.load(Ordering::SeqCst) == 0 {
            tokio::select! {
                biased;
                _ = stopped(&mut self.stop) => return Err(()),
                permit = self.queue.reserve() => match permit {
                    Ok(permit) => permit.send(self.held.pop_front().expect("held is not empty")),
                    Err(_) => return Err(()),
                },
                _ = self.link.wake.notified() => {}
                _ = tokio::time::sleep(KEEP_POLLING) => return Ok(()),
            }
        }
        Ok(())
    }

    fn connected(&mut self, endpoint: usize) {
        let shown = &self.settings.endpoints[endpoint].shown;
        tracing::info!(client = %self.link.id, "MQTT client connected to {shown}");
        self.link.generation.fetch_add(1, Ordering::SeqCst);
        self.link.connected.store(true, Ordering::SeqCst);
        self.report(true, None);
        // Queued ahead of everything users send, straight into the event loop: nothing to wait for.
        let filters = self.link.topics.lock().expect("topics lock").all();
        if !filters.is_empty() {
            let filters = filters
                .into_iter()
                .map(|f| SubscribeFilter::new(f, self.link.qos));
            let subscribe = Subscribe::new_many(filters);
            self.eventloop
                .pending
                .push_back(Request::Subscribe(subscribe));
        }
    }

    async fn disconnect(mut self) {
        if self.link.connected.swap(false, Ordering::SeqCst) {
            self.eventloop
                .pending
                .push_back(Request::Disconnect(Disconnect));
            let sent = async {
                loop {
                    match self.eventloop.poll().await {
                        Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
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
        let status = (connected, error);
        if self.reported.as_ref() == Some(&status) {
            return;
        }
        if let Err(e) = self
            .store
            .set_status(&self.link.id, status_fields(&status.0, &status.1))
        {
            tracing::warn!(client = %self.link.id, "could not record the connection status: {e}");
        }
        self.reported = Some(status);
    }
}

/// The status properties as the store takes them.
pub(crate) fn status_fields(connected: &bool, error: &Option<String>) -> Object {
    let mut fields = Object::new();
    fields.insert("isConnected".into(), Value::Bool(*connected));
    fields.insert(
        "lastError".into(),
        error.clone().map_or(Value::Null, Value::String),
    );
    fields
}

/// A connection failure in words (rumqttc's messages never include the credentials).
fn describe(error: &ConnectionError) -> String {
    match error {
        ConnectionError::ConnectionRefused(code) => {
            let why = match code {
                ConnectReturnCode::BadUserNamePassword => "bad username or password",
                ConnectReturnCode::NotAuthorized => "not authorized",
                ConnectReturnCode::BadClientId => "client id rejected",
                ConnectReturnCode::ServiceUnavailable => "service unavailable",
                ConnectReturnCode::RefusedProtocolVersion => "protocol version not supported",
                ConnectReturnCode::Success => "no reason given",
            };
            format!("the broker refused the connection: {why}")
        }
        ConnectionError::NetworkTimeout => "no answer from the broker (timed out)".to_owned(),
        other => other.to_string(),
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // A dropped sender means the connection is gone too.
    let _ = stop.wait_for(|stop| *stop).await;
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
