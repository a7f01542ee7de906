//! An `MQTTClient` whose broker is `embedded`: an in-process session of the embedded broker,
//! no socket in between. What its subscriptions match waits in an inbox for the client's
//! [`Consumer`], holding the publisher's acknowledgement until the consumer acknowledges the
//! message (its callbacks' writes are on disk); a message dropped unacknowledged (the client
//! stopped) fails it, so the device is not told it was kept.
//!
//! The inbox is bounded for devices: a device's next publish waits while it holds
//! [`INBOX`] messages or more. Messages Switchyard's own callbacks publish do not wait (a
//! callback publishing to its own client's topic would wait for itself), so the inbox can
//! exceed its bound by at most what the callbacks running at that moment publish.

use crate::connection::now_ms;
use parking_lot::Mutex;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use switchyard_broker::{BoxFuture, Consumer, Delivery, Inbound, Incoming, Sender, Status, Topics};
use switchyard_mqtt_broker::{Ack, EmbeddedBroker, LocalSession, Message, QoS, Sink, Via};
use switchyard_store::Store;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::settings::{MAX_PACKET, PUBLISH_OVERHEAD, Settings};
use crate::{Error, Result};

/// Messages waiting for the consumer's queue before devices publishing to them wait.
const INBOX: usize = 1024;
/// The consumer's own queue.
const WORKER_QUEUE: usize = 64;

/// A running in-process client.
pub struct Embedded {
    pub(crate) settings: Settings,
    id: String,
    session: LocalSession,
    topics: Mutex<Topics>,
    inbox: Arc<Inbox>,
    drain: JoinHandle<()>,
    status: Mutex<Status>,
}

impl Embedded {
    /// Opens a session on `broker` in the client's tenant, subscribed to `filters` (MQTT
    /// syntax).
    pub fn start(
        broker: &EmbeddedBroker,
        id: &str,
        settings: Settings,
        store: Store,
        inbound: Arc<dyn Inbound>,
        filters: BTreeSet<String>,
    ) -> Result<Embedded> {
        let inbox = Arc::new(Inbox {
            client: id.into(),
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            room: Notify::new(),
            consumer: Consumer::start(store.tenant(), id, inbound, WORKER_QUEUE),
        });
        let drain = tokio::spawn(inbox.clone().drain());
        // The tenant's namespace is the client's root: it meets its tenant's devices only.
        let session = broker.session(store.tenant(), Arc::new(Inlet(inbox.clone())));
        let mut status = Status::new(store, id);
        status.report(true, None);
        let embedded = Embedded {
            settings,
            id: id.to_owned(),
            session,
            topics: Mutex::new(Topics::new(BTreeSet::new())),
            inbox,
            drain,
            status: Mutex::new(status),
        };
        embedded.set_filters(filters)?;
        tracing::info!(client = %id, "MQTT client connected to the embedded broker");
        Ok(embedded)
    }

    /// Ends the session; what was not acknowledged yet is not acknowledged to its publishers.
    pub fn stop(&self) {
        self.inbox.consumer.stop();
        self.drain.abort();
        for filter in self.topics.lock().all() {
            self.session.unsubscribe(&filter);
        }
        self.inbox.state.lock().queue.clear();
        self.status.lock().report(false, None);
        tracing::info!(client = %self.id, "MQTT client disconnected from the embedded broker");
    }

    /// Publishes at the client's QoS.
    pub fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<()> {
        if switchyard_topic::validate_name(topic).is_err() {
            return Err(Error::InvalidTopic(topic.to_owned()));
        }
        let max = MAX_PACKET.saturating_sub(PUBLISH_OVERHEAD + topic.len());
        if payload.len() > max {
            return Err(Error::PayloadTooLarge(payload.len(), max));
        }
        (self.session).publish(topic, payload.into(), self.settings.qos_level());
        Ok(())
    }

    pub fn set_filters(&self, filters: BTreeSet<String>) -> Result<()> {
        self.change_topics(|topics| topics.set_filters(filters))
    }

    pub fn subscribe(&self, filter: String) -> Result<()> {
        self.change_topics(|topics| topics.add(filter))
    }

    pub fn unsubscribe(&self, filter: &str) -> Result<()> {
        self.change_topics(|topics| topics.remove(filter))
    }

    fn change_topics(&self, change: impl FnOnce(&mut Topics)) -> Result<()> {
        let mut topics = self.topics.lock();
        let before = topics.all();
        change(&mut topics);
        let after = topics.all();
        for filter in before.difference(&after) {
            self.session.unsubscribe(filter);
        }
        for filter in after.difference(&before) {
            // Whatever the client's QoS, a device's QoS 1/2 message is held for its callbacks.
            (self.session.subscribe(filter, QoS::ExactlyOnce))
                .map_err(|_| Error::InvalidFilter(filter.clone(), "not an MQTT filter".into()))?;
        }
        Ok(())
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.drain.abort();
    }
}

/// Messages on their way to the consumer.
struct Inbox {
    client: Arc<str>,
    state: Mutex<State>,
    /// Wakes the drain when a message arrives.
    wake: Notify,
    /// Wakes publishers waiting for room.
    room: Notify,
    consumer: Consumer<EmbeddedDelivery>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<EmbeddedDelivery>,
    /// The drain holds a message it is handing to the consumer: later ones queue behind it.
    draining: bool,
}

impl Inbox {
    /// Hands queued messages to the consumer in order, waiting for room in its queue.
    async fn drain(self: Arc<Self>) {
        loop {
            let next = {
                let mut state = self.state.lock();
                let next = state.queue.pop_front();
                state.draining = next.is_some();
                next
            };
            match next {
                Some(delivery) => {
                    self.room.notify_waiters();
                    if self.consumer.push(delivery).await.is_err() {
                        return;
                    }
                }
                None => self.wake.notified().await,
            }
        }
    }

    fn full(&self) -> bool {
        self.state.lock().queue.len() >= INBOX
    }
}

/// The inbox as the broker's router sees it.
struct Inlet(Arc<Inbox>);

impl Sink for Inlet {
    fn deliver(&self, message: &Arc<Message>, qos: QoS, _: &Via, ack: &Ack) {
        let inbox = &self.0;
        let delivery = EmbeddedDelivery {
            client: inbox.client.clone(),
            message: message.clone(),
            ack: (qos != QoS::AtMostOnce).then(|| ack.clone()),
            received_at_ms: now_ms(),
        };
        let mut state = inbox.state.lock();
        if state.queue.is_empty() && !state.draining {
            match inbox.consumer.try_push(delivery) {
                Ok(()) => return,
                Err(delivery) => state.queue.push_back(delivery),
            }
        } else {
            state.queue.push_back(delivery);
        }
        drop(state);
        inbox.wake.notify_one();
    }

    fn room(&self) -> Option<switchyard_mqtt_broker::BoxFuture<()>> {
        if !self.0.full() {
            return None;
        }
        let inbox = self.0.clone();
        Some(Box::pin(async move {
            loop {
                let room = inbox.room.notified();
                tokio::pin!(room);
                room.as_mut().enable();
                if !inbox.full() {
                    return;
                }
                room.await;
            }
        }))
    }
}

/// A message from the embedded broker on its way through the consumer.
struct EmbeddedDelivery {
    client: Arc<str>,
    message: Arc<Message>,
    /// The publisher's acknowledgement, for QoS 1 and 2.
    ack: Option<Ack>,
    received_at_ms: u64,
}

impl Delivery for EmbeddedDelivery {
    fn incoming(&self) -> Incoming {
        let message = &self.message;
        Incoming {
            client_id: self.client.to_string(),
            topic: message.topic.clone(),
            payload: message.payload.to_vec(),
            headers: (message.properties.iter())
                .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                .collect(),
            received_at_ms: self.received_at_ms,
            sender: (message.publisher.as_ref()).map(|publisher| Sender {
                client_id: publisher.client_id.clone(),
                device: publisher.device.clone(),
            }),
            ..Incoming::default()
        }
    }

    fn acknowledge(mut self) -> BoxFuture<'static, ()> {
        // Dropping the share is the acknowledgement.
        self.ack.take();
        Box::pin(async {})
    }
}

impl Drop for EmbeddedDelivery {
    fn drop(&mut self) {
        if let Some(ack) = self.ack.take() {
            ack.fail();
        }
    }
}
