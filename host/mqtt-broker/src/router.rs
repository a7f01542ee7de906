//! Who gets a message: each tenant's namespace of subscriptions, exact topics in a map and
//! wildcard filters in a list, each subscription held by a session's [`Sink`].

use crate::ack::Ack;
use bytes::Bytes;
use parking_lot::RwLock;
use rumqttd::protocol::QoS;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A boxed future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// One published message, shared by every session it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// MQTT 5 user properties.
    pub properties: Vec<(String, String)>,
}

/// Where a session's messages go: a device connection's queue, or an in-process session.
pub trait Sink: Send + Sync + 'static {
    /// Takes a message one of the session's subscriptions matched, at the QoS granted for it.
    /// `retained` marks a retained message sent because of a new subscription. A session that
    /// keeps the message for its publisher's acknowledgement holds a clone of `ack`.
    fn deliver(&self, message: &Arc<Message>, qos: QoS, retained: bool, ack: &Ack);
    /// When the session holds more than it should, resolves once it has room again; a
    /// publisher waits for it before its next message.
    fn room(&self) -> Option<BoxFuture<()>>;
}

/// A session's identity in the router.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionId(pub(crate) u64);

impl SessionId {
    pub fn next() -> SessionId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        SessionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

#[derive(Clone)]
struct Subscription {
    session: SessionId,
    filter: String,
    qos: QoS,
    sink: Arc<dyn Sink>,
}

/// One tenant's subscriptions.
#[derive(Default)]
struct Namespace {
    exact: HashMap<String, Vec<Subscription>>,
    wildcard: Vec<Subscription>,
}

impl Namespace {
    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty()
    }
}

/// Every tenant's subscriptions.
#[derive(Default)]
pub struct Router {
    namespaces: RwLock<HashMap<String, Namespace>>,
}

impl Router {
    /// Adds (or replaces, with its new QoS) a session's subscription to `filter`, a valid MQTT
    /// filter.
    pub fn subscribe(
        &self,
        tenant: &str,
        session: SessionId,
        filter: &str,
        qos: QoS,
        sink: &Arc<dyn Sink>,
    ) {
        let subscription = Subscription {
            session,
            filter: filter.to_owned(),
            qos,
            sink: sink.clone(),
        };
        let mut namespaces = self.namespaces.write();
        let namespace = namespaces.entry(tenant.to_owned()).or_default();
        let list = if is_wildcard(filter) {
            &mut namespace.wildcard
        } else {
            namespace.exact.entry(filter.to_owned()).or_default()
        };
        list.retain(|s| !(s.session == session && s.filter == filter));
        list.push(subscription);
    }

    /// Removes a session's subscription to `filter`; says whether there was one.
    pub fn unsubscribe(&self, tenant: &str, session: SessionId, filter: &str) -> bool {
        let mut namespaces = self.namespaces.write();
        let Some(namespace) = namespaces.get_mut(tenant) else {
            return false;
        };
        let removed = if is_wildcard(filter) {
            remove(&mut namespace.wildcard, |s| {
                s.session == session && s.filter == filter
            })
        } else {
            let Some(list) = namespace.exact.get_mut(filter) else {
                return false;
            };
            let removed = remove(list, |s| s.session == session);
            if list.is_empty() {
                namespace.exact.remove(filter);
            }
            removed
        };
        if namespace.is_empty() {
            namespaces.remove(tenant);
        }
        removed
    }

    /// Removes every subscription of a session that ended.
    pub fn remove_session(&self, tenant: &str, session: SessionId) {
        let mut namespaces = self.namespaces.write();
        let Some(namespace) = namespaces.get_mut(tenant) else {
            return;
        };
        namespace.wildcard.retain(|s| s.session != session);
        namespace.exact.retain(|_, list| {
            list.retain(|s| s.session != session);
            !list.is_empty()
        });
        if namespace.is_empty() {
            namespaces.remove(tenant);
        }
    }

    /// Hands a message to every session with a matching subscription in `tenant`'s namespace,
    /// once per session (at the highest QoS among its matching subscriptions, capped by the
    /// message's), and returns what the publisher should wait for before its next message.
    pub fn route(&self, tenant: &str, message: &Arc<Message>, ack: &Ack) -> Vec<BoxFuture<()>> {
        let mut matched: Vec<(SessionId, QoS, Arc<dyn Sink>)> = Vec::new();
        {
            let namespaces = self.namespaces.read();
            let Some(namespace) = namespaces.get(tenant) else {
                return Vec::new();
            };
            let exact = namespace.exact.get(&message.topic).into_iter().flatten();
            let wildcard = (namespace.wildcard.iter())
                .filter(|s| switchyard_topic::matches(&s.filter, &message.topic));
            for s in exact.chain(wildcard) {
                let qos = s.qos.min(message.qos);
                match matched.iter_mut().find(|(id, ..)| *id == s.session) {
                    Some(m) => m.1 = m.1.max(qos),
                    None => matched.push((s.session, qos, s.sink.clone())),
                }
            }
        }
        // Delivered outside the lock: a sink may take its own locks.
        let mut waits = Vec::new();
        for (_, qos, sink) in matched {
            sink.deliver(message, qos, false, ack);
            waits.extend(sink.room());
        }
        waits
    }
}

fn is_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

fn remove(list: &mut Vec<Subscription>, which: impl Fn(&Subscription) -> bool) -> bool {
    let before = list.len();
    list.retain(|s| !which(s));
    list.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, QoS)>>);

    impl Sink for Recorder {
        fn deliver(&self, message: &Arc<Message>, qos: QoS, _: bool, _: &Ack) {
            self.0.lock().push((message.topic.clone(), qos));
        }
        fn room(&self) -> Option<BoxFuture<()>> {
            None
        }
    }

    fn message(topic: &str, qos: QoS) -> Arc<Message> {
        Arc::new(Message {
            topic: topic.to_owned(),
            payload: Bytes::new(),
            qos,
            retain: false,
            properties: Vec::new(),
        })
    }

    #[test]
    fn once_per_session_at_the_best_matching_qos_and_only_in_its_tenant() {
        let router = Router::default();
        let recorder = Arc::new(Recorder::default());
        let sink: Arc<dyn Sink> = recorder.clone();
        let session = SessionId::next();
        router.subscribe("a", session, "s/+/t", QoS::AtMostOnce, &sink);
        router.subscribe("a", session, "s/1/t", QoS::AtLeastOnce, &sink);
        router.subscribe("b", SessionId::next(), "#", QoS::AtLeastOnce, &sink);
        router.route("a", &message("s/1/t", QoS::ExactlyOnce), &Ack::none());
        router.route("a", &message("s/2/t", QoS::AtLeastOnce), &Ack::none());
        router.route("a", &message("$SYS/x", QoS::AtLeastOnce), &Ack::none());
        assert_eq!(
            *recorder.0.lock(),
            [
                ("s/1/t".to_owned(), QoS::AtLeastOnce),
                ("s/2/t".to_owned(), QoS::AtMostOnce)
            ]
        );
        assert!(router.unsubscribe("a", session, "s/1/t"));
        assert!(!router.unsubscribe("a", session, "s/1/t"));
        router.remove_session("a", session);
        assert!(router.namespaces.read().get("a").is_none());
    }
}
