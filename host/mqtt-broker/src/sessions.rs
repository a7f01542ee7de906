//! Persistent device sessions: a device that connects with `cleanSession: false` (MQTT 3.1.1)
//! or a session expiry (MQTT 5) keeps its subscriptions, and the QoS 1/2 messages they match
//! while it is away, until it comes back, across restarts of Switchyard.
//!
//! A session is kept in the store: its record (`mqtt-sessions`, `<tenant>\0<client id>` → its
//! subscriptions and expiry) is written before the SUBACK of each change, and each message
//! queued for it while it is offline (`mqtt-session-queue`, `<tenant>\0<client id>\0<seq>`) is
//! written, with others queued at the same time, before the publisher's acknowledgement. At
//! most [`SESSION_QUEUE`] messages wait per session; past that they are dropped and logged.
//!
//! One connection at a time holds a session (its [`Slot`]): a device that takes a client id
//! over waits until the connection it replaces has put the session back.

use crate::ack::Ack;
use crate::blocking;
use crate::router::{BoxFuture, Message, Router, SessionId, Sink, Via};
use bytes::Bytes;
use rumqttd::protocol::{QoS, qos};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchyard_store::{Space, Store};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const SESSIONS: &str = "mqtt-sessions";
const QUEUE: &str = "mqtt-session-queue";
/// Messages waiting for one offline session.
pub(crate) const SESSION_QUEUE: usize = 1000;
/// MQTT 5's session expiry that means "never".
const NEVER: u32 = u32::MAX;

/// What one client id's connections share.
#[derive(Default)]
pub(crate) struct Slot {
    pub session: Option<Persistent>,
}

/// A persistent session.
pub(crate) struct Persistent {
    pub subscriptions: BTreeMap<String, QoS>,
    /// Seconds it outlives its connection; [`NEVER`] for MQTT 3.1.1's persistent sessions.
    pub expiry: u32,
    /// While no device holds it: its subscriptions route to this queue in the store.
    offline: Option<Offline>,
}

/// A session's subscriptions while its device is away.
struct Offline {
    session: SessionId,
    sink: Arc<OfflineSink>,
    writer: JoinHandle<()>,
    /// Milliseconds since the epoch when it expires, if it does.
    expires_at: Option<u64>,
}

/// The store's side of the sessions.
#[derive(Clone)]
pub(crate) struct Sessions {
    records: Space,
    queue: Space,
}

fn key(tenant: &str, client: &str) -> String {
    format!("{tenant}\0{client}")
}

fn now_ms() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    now.map_or(0, |d| d.as_millis() as u64)
}

impl Sessions {
    pub fn open(store: &Store) -> Sessions {
        Sessions {
            records: store.space(SESSIONS),
            queue: store.space(QUEUE),
        }
    }

    /// The stored sessions, offline, each routed to its queue; expired ones are removed.
    pub fn load(&self, router: &Router) -> switchyard_store::Result<Vec<(String, String, Slot)>> {
        let mut slots = Vec::new();
        let now = now_ms();
        for (key, record) in self.records.list("")? {
            let Some((tenant, client)) = key.split_once('\0') else {
                continue;
            };
            let record: serde_json::Value = serde_json::from_slice(&record)
                .map_err(|e| switchyard_store::Error::Corrupt(format!("session {key:?}: {e}")))?;
            let expires_at = record["expiresAt"].as_u64();
            if expires_at.is_some_and(|at| at <= now) {
                self.forget(tenant, client)?;
                continue;
            }
            let subscriptions = (record["subscriptions"].as_array().into_iter().flatten())
                .filter_map(|s| Some((s[0].as_str()?.to_owned(), qos(s[1].as_u64()? as u8)?)))
                .collect();
            let queued = self.queue.list(&format!("{key}\0"))?;
            let next = (queued.last())
                .and_then(|(key, _)| key.rsplit('\0').next()?.parse::<u64>().ok())
                .map_or(0, |last| last + 1);
            let mut persistent = Persistent {
                subscriptions,
                expiry: record["expiry"].as_u64().map_or(NEVER, |e| e as u32),
                offline: None,
            };
            persistent.go_offline(
                self,
                router,
                (tenant, client),
                (queued.len(), next),
                expires_at,
            );
            let slot = Slot {
                session: Some(persistent),
            };
            slots.push((tenant.to_owned(), client.to_owned(), slot));
        }
        Ok(slots)
    }

    /// Writes a session's record: its subscriptions, its expiry and, offline, when it expires.
    pub fn save(
        &self,
        (tenant, client): (&str, &str),
        session: &Persistent,
        expires_at: Option<u64>,
    ) -> BoxFuture<switchyard_store::Result<()>> {
        let subscriptions: Vec<_> = (session.subscriptions.iter())
            .map(|(filter, qos)| json!([filter, *qos as u8]))
            .collect();
        let record = json!({"subscriptions": subscriptions, "expiry": session.expiry, "expiresAt": expires_at});
        let entries = vec![(key(tenant, client), Some(record.to_string().into_bytes()))];
        Box::pin(blocking::write(
            self.records.clone(),
            "keeping a device session",
            entries,
        ))
    }

    /// Removes a session and its queue from the store. Blocks.
    fn forget(&self, tenant: &str, client: &str) -> switchyard_store::Result<()> {
        let key = key(tenant, client);
        let queued = self.queue.list(&format!("{key}\0"))?;
        let removed: Vec<(&str, Option<&[u8]>)> =
            queued.iter().map(|(key, _)| (key.as_str(), None)).collect();
        self.queue.write(&removed)?;
        self.records.write(&[(&key, None)])
    }

    /// Removes a session and its queue from the store.
    pub async fn discard(&self, tenant: &str, client: &str) -> switchyard_store::Result<()> {
        let (sessions, tenant, client) = (self.clone(), tenant.to_owned(), client.to_owned());
        let forgotten = tokio::task::spawn_blocking(move || sessions.forget(&tenant, &client));
        forgotten.await.unwrap_or_else(|e| {
            Err(switchyard_store::Error::Storage {
                doing: "removing a device session",
                source: Arc::new(e),
            })
        })
    }

    /// Takes the messages queued for a session out of the store, oldest first.
    pub async fn take_queued(
        &self,
        (tenant, client): (&str, &str),
    ) -> switchyard_store::Result<Vec<(Arc<Message>, QoS)>> {
        let entries =
            blocking::list(self.queue.clone(), format!("{}\0", key(tenant, client))).await?;
        let messages = entries
            .iter()
            .filter_map(|(_, value)| decode(value))
            .collect();
        let removed = entries.into_iter().map(|(key, _)| (key, None)).collect();
        blocking::write(
            self.queue.clone(),
            "delivering a device session's queue",
            removed,
        )
        .await?;
        Ok(messages)
    }
}

impl Persistent {
    pub fn new(expiry: u32) -> Persistent {
        Persistent {
            subscriptions: BTreeMap::new(),
            expiry,
            offline: None,
        }
    }

    /// Routes the session's subscriptions to its queue in the store, which holds `queued`
    /// messages and numbers the next one `next`.
    fn go_offline(
        &mut self,
        sessions: &Sessions,
        router: &Router,
        (tenant, client): (&str, &str),
        (queued, next): (usize, u64),
        expires_at: Option<u64>,
    ) {
        let (sender, receiver) = mpsc::channel(SESSION_QUEUE);
        let sink = Arc::new(OfflineSink {
            client: client.to_owned(),
            queue: sender,
            queued: AtomicUsize::new(queued),
            dropped: AtomicU64::new(0),
        });
        let prefix = format!("{}\0", key(tenant, client));
        let writer = tokio::spawn(write_queue(sessions.queue.clone(), prefix, next, receiver));
        let session = SessionId::next();
        let as_sink: Arc<dyn Sink> = sink.clone();
        for (filter, qos) in &self.subscriptions {
            router.subscribe(tenant, session, filter, *qos, &as_sink);
        }
        self.offline = Some(Offline {
            session,
            sink,
            writer,
            expires_at,
        });
    }

    /// Leaves the connection's device sink for the queue in the store, with what the device
    /// had not acknowledged yet (`unsent`), and saves the record with its expiry.
    pub fn park(
        &mut self,
        sessions: &Sessions,
        router: &Router,
        who: (&str, &str),
        unsent: Vec<(Arc<Message>, QoS)>,
    ) -> BoxFuture<switchyard_store::Result<()>> {
        let expires_at = (self.expiry != NEVER).then(|| now_ms() + u64::from(self.expiry) * 1000);
        if self.offline.is_none() {
            // Numbered after anything a failed delivery of an earlier queue left in the store.
            self.go_offline(sessions, router, who, (0, now_ms() * 1000), expires_at);
        }
        if let Some(offline) = &self.offline {
            for (message, qos) in unsent {
                offline
                    .sink
                    .deliver(&message, qos, &Via::Subscription, &Ack::none());
            }
        }
        sessions.save(who, self, expires_at)
    }

    /// Takes the session back from its queue for a connection: stops routing to the queue
    /// and waits until what was routed there is in the store.
    pub async fn resume(&mut self, router: &Router, tenant: &str) {
        if let Some(offline) = self.offline.take() {
            router.remove_session(tenant, offline.session);
            let Offline { sink, writer, .. } = offline;
            drop(sink);
            let _ = writer.await;
        }
    }

    /// Whether it has expired while offline.
    pub fn expired(&self, now: u64) -> bool {
        (self.offline.as_ref()).is_some_and(|o| o.expires_at.is_some_and(|at| at <= now))
    }

    /// Stops routing to its queue (it is being discarded).
    pub fn close(&mut self, router: &Router, tenant: &str) {
        if let Some(offline) = self.offline.take() {
            router.remove_session(tenant, offline.session);
            offline.writer.abort();
        }
    }
}

/// Expiry as the device asked: MQTT 3.1.1 `cleanSession: false` keeps the session until a
/// clean connect; MQTT 5 gives seconds (0: none).
pub(crate) fn expiry(v5: bool, clean: bool, requested: Option<u32>) -> Option<u32> {
    match (v5, requested) {
        (false, _) => (!clean).then_some(NEVER),
        (true, Some(seconds)) if seconds > 0 => Some(seconds),
        (true, _) => None,
    }
}

/// Now, in milliseconds since the epoch, for [`Persistent::expired`].
pub(crate) fn now() -> u64 {
    now_ms()
}

/// How often expired sessions are looked for.
pub(crate) const SWEEP: Duration = Duration::from_secs(60);

/// A session's queue as the router sees it while its device is away.
struct OfflineSink {
    client: String,
    queue: mpsc::Sender<(Arc<Message>, QoS, Ack)>,
    queued: AtomicUsize,
    dropped: AtomicU64,
}

impl Sink for OfflineSink {
    fn deliver(&self, message: &Arc<Message>, qos: QoS, _: &Via, ack: &Ack) {
        // QoS 0 is not kept for a device that is away.
        if qos == QoS::AtMostOnce {
            return;
        }
        let full = self.queued.fetch_add(1, Ordering::AcqRel) >= SESSION_QUEUE;
        if full
            || self
                .queue
                .try_send((message.clone(), qos, ack.clone()))
                .is_err()
        {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(
                    client = %self.client,
                    "an offline MQTT session holds {SESSION_QUEUE} messages: dropped one ({dropped} so far)"
                );
            }
        }
    }

    fn room(&self) -> Option<BoxFuture<()>> {
        None
    }
}

/// Writes what is queued for an offline session to the store, all that waits at once in one
/// write, and only then lets go of the messages' acknowledgements.
async fn write_queue(
    space: Space,
    prefix: String,
    mut next: u64,
    mut receiver: mpsc::Receiver<(Arc<Message>, QoS, Ack)>,
) {
    let mut batch = Vec::new();
    while receiver.recv_many(&mut batch, SESSION_QUEUE).await > 0 {
        let entries = (batch.iter())
            .map(|(message, qos, _)| {
                next += 1;
                (format!("{prefix}{next:020}"), Some(encode(message, *qos)))
            })
            .collect();
        if let Err(e) =
            blocking::write(space.clone(), "queueing for a device session", entries).await
        {
            tracing::error!("cannot queue messages for an offline MQTT session: {e}");
            for (_, _, ack) in &batch {
                ack.fail();
            }
        }
        batch.clear();
    }
}

/// A queued message: its QoS, its topic's length (2 bytes), its topic and its payload.
fn encode(message: &Message, qos: QoS) -> Vec<u8> {
    let topic = message.topic.as_bytes();
    let mut bytes = Vec::with_capacity(3 + topic.len() + message.payload.len());
    bytes.push(qos as u8);
    bytes.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    bytes.extend_from_slice(topic);
    bytes.extend_from_slice(&message.payload);
    bytes
}

fn decode(bytes: &[u8]) -> Option<(Arc<Message>, QoS)> {
    let (&level, rest) = bytes.split_first()?;
    let (length, rest) = rest.split_at_checked(2)?;
    let length = u16::from_be_bytes([length[0], length[1]]) as usize;
    let (topic, payload) = rest.split_at_checked(length)?;
    let qos = qos(level)?;
    let message = Message {
        topic: String::from_utf8(topic.to_vec()).ok()?,
        payload: Bytes::copy_from_slice(payload),
        qos,
        retain: false,
        properties: Vec::new(),
        publisher: None,
    };
    Some((Arc::new(message), qos))
}
