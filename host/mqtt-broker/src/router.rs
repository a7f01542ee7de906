//! Who gets a message: each tenant's namespace of subscriptions, exact topics in a map and
//! wildcard filters in a list, each subscription held by a session's [`Sink`]. A shared
//! subscription (`$share/<group>/<filter>`) is a group of sessions taking its messages in
//! turn: each message goes to one member, and what a member leaves without acknowledging goes
//! on to another ([`Router::reshare`]).

use crate::ack::Ack;
use bytes::Bytes;
use parking_lot::RwLock;
use rumqttd::protocol::QoS;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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
    /// The device session that published it; `None` for Switchyard's own publishes.
    pub publisher: Option<Arc<Publisher>>,
}

/// A device session that publishes: what a receiver may rely on about who sent a message,
/// unlike its user properties, which the device chooses.
#[derive(Debug, PartialEq, Eq)]
pub struct Publisher {
    pub client_id: String,
    /// The `MQTTDevice` object it signed in as, if it did.
    pub device: Option<String>,
}

/// How a message came to a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// One of the session's subscriptions matched it.
    Subscription,
    /// A retained message, sent because of a new subscription.
    Retained,
    /// It was this session's turn in the shared subscription named (`$share/<group>/<filter>`).
    Share(Arc<str>),
}

/// Where a session's messages go: a device connection's queue, or an in-process session.
pub trait Sink: Send + Sync + 'static {
    /// Takes a message one of the session's subscriptions matched, at the QoS granted for it.
    /// A session that keeps the message for its publisher's acknowledgement holds a clone of
    /// `ack`.
    fn deliver(&self, message: &Arc<Message>, qos: QoS, via: &Via, ack: &Ack);
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

/// The members of one shared subscription, by its whole `$share/<group>/<filter>`.
struct Group {
    /// `$share/<group>/<filter>`.
    name: Arc<str>,
    /// `<filter>`.
    inner: String,
    members: Vec<Subscription>,
    /// Whose turn it is, counted over every message the group took.
    turn: AtomicUsize,
}

/// One tenant's subscriptions.
#[derive(Default)]
struct Namespace {
    exact: HashMap<String, Vec<Subscription>>,
    wildcard: Vec<Subscription>,
    shared: HashMap<String, Group>,
}

impl Namespace {
    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty() && self.shared.is_empty()
    }

    /// The list `filter`'s subscriptions are kept in.
    fn list(&mut self, filter: &str) -> &mut Vec<Subscription> {
        if let Some((_, inner)) = switchyard_topic::shared(filter) {
            let group = (self.shared.entry(filter.to_owned())).or_insert_with(|| Group {
                name: filter.into(),
                inner: inner.to_owned(),
                members: Vec::new(),
                turn: AtomicUsize::new(0),
            });
            &mut group.members
        } else if is_wildcard(filter) {
            &mut self.wildcard
        } else {
            self.exact.entry(filter.to_owned()).or_default()
        }
    }

    /// Forgets `filter`'s list if it was left empty.
    fn tidy(&mut self, filter: &str) {
        if self.exact.get(filter).is_some_and(Vec::is_empty) {
            self.exact.remove(filter);
        }
        if (self.shared.get(filter)).is_some_and(|group| group.members.is_empty()) {
            self.shared.remove(filter);
        }
    }
}

impl Group {
    /// The member whose turn it is: the QoS it takes `message` at, its sink and its session.
    fn next(&self, message: &Message) -> (QoS, Arc<dyn Sink>, SessionId) {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let member = &self.members[turn % self.members.len()];
        (
            member.qos.min(message.qos),
            member.sink.clone(),
            member.session,
        )
    }
}

/// Every tenant's subscriptions.
#[derive(Default)]
pub struct Router {
    namespaces: RwLock<HashMap<String, Namespace>>,
}

impl Router {
    /// Adds (or replaces, with its new QoS) a session's subscription to `filter`, a valid MQTT
    /// filter or shared subscription.
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
        let list = namespace.list(filter);
        list.retain(|s| !(s.session == session && s.filter == filter));
        list.push(subscription);
    }

    /// Removes a session's subscription to `filter`; says whether there was one.
    pub fn unsubscribe(&self, tenant: &str, session: SessionId, filter: &str) -> bool {
        let mut namespaces = self.namespaces.write();
        let Some(namespace) = namespaces.get_mut(tenant) else {
            return false;
        };
        let list = namespace.list(filter);
        let before = list.len();
        list.retain(|s| !(s.session == session && s.filter == filter));
        let removed = list.len() != before;
        namespace.tidy(filter);
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
        namespace.shared.retain(|_, group| {
            group.members.retain(|s| s.session != session);
            !group.members.is_empty()
        });
        if namespace.is_empty() {
            namespaces.remove(tenant);
        }
    }

    /// Hands a message to every session with a matching subscription in `tenant`'s namespace,
    /// once per session (at the highest QoS among its matching subscriptions, capped by the
    /// message's), and to one member of each matching shared subscription, in turn; returns
    /// what the publisher should wait for before its next message.
    pub fn route(&self, tenant: &str, message: &Arc<Message>, ack: &Ack) -> Vec<BoxFuture<()>> {
        let mut matched: Vec<(SessionId, QoS, Arc<dyn Sink>, Via)> = Vec::new();
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
                    None => matched.push((s.session, qos, s.sink.clone(), Via::Subscription)),
                }
            }
            let groups = (namespace.shared.values())
                .filter(|group| switchyard_topic::matches(&group.inner, &message.topic));
            for group in groups {
                let (qos, sink, session) = group.next(message);
                matched.push((session, qos, sink, Via::Share(group.name.clone())));
            }
        }
        // Delivered outside the lock: a sink may take its own locks.
        let mut waits = Vec::new();
        for (_, qos, sink, via) in matched {
            sink.deliver(message, qos, &via, ack);
            waits.extend(sink.room());
        }
        waits
    }

    /// Hands `message` to the member of `tenant`'s shared subscription `share` whose turn it
    /// is: a member left without acknowledging it (MQTT 5, 4.8.2). Whether a member took it.
    pub fn reshare(&self, tenant: &str, share: &Arc<str>, message: &Arc<Message>) -> bool {
        let member = {
            let namespaces = self.namespaces.read();
            let group = namespaces.get(tenant).and_then(|n| n.shared.get(&**share));
            group.map(|group| group.next(message))
        };
        match member {
            Some((qos, sink, _)) => {
                sink.deliver(message, qos, &Via::Share(share.clone()), &Ack::none());
                true
            }
            None => false,
        }
    }
}

fn is_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, QoS)>>);

    impl Sink for Recorder {
        fn deliver(&self, message: &Arc<Message>, qos: QoS, _: &Via, _: &Ack) {
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
            publisher: None,
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

    /// A router with `n` sessions in tenant `a`'s group `$share/g/s/#`.
    fn group(n: usize) -> (Router, Vec<Arc<Recorder>>, Vec<SessionId>) {
        let router = Router::default();
        let members: Vec<Arc<Recorder>> = (0..n).map(|_| Arc::default()).collect();
        let sessions: Vec<SessionId> = members.iter().map(|_| SessionId::next()).collect();
        for (member, session) in members.iter().zip(&sessions) {
            let sink: Arc<dyn Sink> = member.clone();
            router.subscribe("a", *session, "$share/g/s/#", QoS::AtLeastOnce, &sink);
        }
        (router, members, sessions)
    }

    #[test]
    fn a_shared_subscription_hands_each_message_to_one_member_in_turn() {
        let (router, members, sessions) = group(3);
        // A member also subscribed without the group gets both its copies.
        let sink: Arc<dyn Sink> = members[0].clone();
        router.subscribe("a", sessions[0], "s/+", QoS::AtMostOnce, &sink);
        for _ in 0..6 {
            router.route("a", &message("s/1", QoS::AtLeastOnce), &Ack::none());
        }
        let counts = || members.iter().map(|m| m.0.lock().len()).collect::<Vec<_>>();
        assert_eq!(counts(), [8, 2, 2]);
        assert!(router.unsubscribe("a", sessions[1], "$share/g/s/#"));
        router.remove_session("a", sessions[2]);
        router.route("a", &message("s/1", QoS::AtLeastOnce), &Ack::none());
        router.route("a", &message("other", QoS::AtLeastOnce), &Ack::none());
        assert_eq!(counts(), [10, 2, 2]);
        router.remove_session("a", sessions[0]);
        assert!(router.namespaces.read().get("a").is_none());
    }

    #[test]
    fn what_a_member_leaves_goes_to_the_next_member_of_its_group() {
        let (router, members, sessions) = group(2);
        let share: Arc<str> = "$share/g/s/#".into();
        router.remove_session("a", sessions[0]);
        assert!(router.reshare("a", &share, &message("s/1", QoS::ExactlyOnce)));
        let got = |m: usize| members[m].0.lock().clone();
        assert_eq!(got(1), [("s/1".to_owned(), QoS::AtLeastOnce)]);
        assert!(got(0).is_empty());
        // Not in another tenant's group of the same name, nor in a group nobody is left in.
        assert!(!router.reshare("b", &share, &message("s/2", QoS::AtLeastOnce)));
        router.remove_session("a", sessions[1]);
        assert!(!router.reshare("a", &share, &message("s/3", QoS::AtLeastOnce)));
        assert_eq!(got(1).len(), 1);
    }
}
