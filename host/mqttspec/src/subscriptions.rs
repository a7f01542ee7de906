//! Live change subscriptions: after `subscribe`, every create, update or delete of the type
//! in the client's tenant that matches the subscription's filters (made over REST, by a
//! plugin, over MQTT, or on another instance sharing the store) is published to
//! `<prefix>/{client_id}/notify/{subscription_id}` as `{type: "notification", operation,
//! subscription_id, entity, data}`, in commit order.
//!
//! Filters are evaluated here, on the object as committed. Each subscription remembers which
//! objects it last saw matching (those matching when it began, and those it sent since; up to
//! [`TRACKED`]), so an update that moves one out of the filter is sent once, and a delete is
//! sent for the objects it knew. Each has a bounded queue of its own, drained by a task that
//! publishes one notification at a time; when the queue is full (a subscriber slower than the
//! changes) the notifications that do not fit are dropped and one
//! `{operation: "missed"}` follows, telling the client to read again. So does a change feed
//! that fell behind, or an instance that lost its connection to the others' changes.

use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use switchyard_broker::Brokers;
use switchyard_store::{ChangeKind, Filter, Query, Store};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

/// Objects a subscription remembers as matching, at most.
pub const TRACKED: usize = 10_000;
/// Subscriptions one requester may hold on one client.
pub const PER_REQUESTER: usize = 32;
/// Notifications waiting for their publish, per subscription.
const QUEUE: usize = 1_000;

/// Where one requester of one client is answered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requester {
    pub tenant: String,
    /// The `MQTTClient` the requests came through.
    pub client: String,
    /// The `{client_id}` level of its topics.
    pub id: String,
}

struct Subscription {
    id: String,
    requester: Requester,
    entity: String,
    filters: Vec<Filter>,
    /// Objects last seen matching.
    inside: Mutex<HashSet<String>>,
    notices: mpsc::Sender<Value>,
    /// Set when a notice did not fit: a `missed` one follows once there is room.
    missed: AtomicBool,
}

impl Subscription {
    fn matches(&self, object: &switchyard_store::Object) -> bool {
        self.filters.iter().all(|filter| filter.matches(object))
    }

    /// Queues a notification, or remembers that one was missed.
    fn notify(&self, notice: Value) {
        if self.notices.try_send(notice).is_err() && !self.missed.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                subscription = %self.id,
                client = %self.requester.client,
                "a change subscription is not keeping up: notifications dropped, `missed` follows"
            );
        }
    }

    fn notice(&self, operation: &str, data: Value) -> Value {
        json!({
            "type": "notification",
            "operation": operation,
            "subscription_id": self.id,
            "entity": self.entity,
            "data": data,
        })
    }
}

/// The live subscriptions of this instance.
pub struct Subscriptions {
    store: Store,
    brokers: Brokers,
    by_id: Mutex<HashMap<String, Arc<Subscription>>>,
    /// Whether the task following the store's changes runs.
    following: AtomicBool,
}

impl Subscriptions {
    pub fn new(store: Store, brokers: Brokers) -> Arc<Subscriptions> {
        Arc::new(Subscriptions {
            store,
            brokers,
            by_id: Mutex::default(),
            following: AtomicBool::new(false),
        })
    }

    /// Starts a subscription to `entity`'s changes matching `filters`; its id and the topic
    /// its notifications go to.
    pub fn subscribe(
        self: &Arc<Self>,
        prefix: &str,
        requester: Requester,
        entity: &str,
        filters: Vec<Filter>,
    ) -> Result<(String, String), crate::envelope::Failure> {
        use crate::envelope::{Code, Failure};
        let held = (self.by_id.lock().values())
            .filter(|s| s.requester == requester)
            .count();
        if held >= PER_REQUESTER {
            return Err(Failure::new(
                Code::Quota,
                format!(
                    "a client may hold {PER_REQUESTER} change subscriptions at once; unsubscribe one first"
                ),
            ));
        }
        self.follow();
        let store = self.store.in_tenant(&requester.tenant);
        let query = Query {
            filters: filters.clone(),
            limit: Some(TRACKED),
            ..Query::default()
        };
        let inside = (store.query(entity, &query)?.result.iter())
            .map(|object| switchyard_model::id_of(object).to_owned())
            .collect();
        let id = format!("sub-{}", uuid::Uuid::now_v7().simple());
        let topic = format!("{prefix}/{}/notify/{id}", requester.id);
        let (notices, queued) = mpsc::channel(QUEUE);
        let subscription = Arc::new(Subscription {
            id: id.clone(),
            requester,
            entity: entity.to_owned(),
            filters,
            inside: Mutex::new(inside),
            notices,
            missed: AtomicBool::new(false),
        });
        tokio::spawn(publish(
            self.brokers.clone(),
            subscription.clone(),
            topic.clone(),
            queued,
        ));
        self.by_id.lock().insert(id.clone(), subscription);
        Ok((id, topic))
    }

    /// Ends the requester's subscription `id`; whether it had one.
    pub fn unsubscribe(&self, requester: &Requester, id: &str) -> bool {
        let mut by_id = self.by_id.lock();
        let theirs = by_id.get(id).is_some_and(|s| s.requester == *requester);
        if theirs {
            by_id.remove(id);
        }
        theirs
    }

    /// Ends every subscription of a requester whose session ended.
    pub fn end(&self, tenant: &str, client: &str, requester: &str) {
        let mut by_id = self.by_id.lock();
        by_id.retain(|_, s| {
            !(s.requester.tenant == tenant
                && s.requester.client == client
                && s.requester.id == requester)
        });
    }

    /// Starts following the store's changes, once.
    fn follow(self: &Arc<Self>) {
        if !self.following.swap(true, Ordering::AcqRel) {
            tokio::spawn(self.clone().run());
        }
    }

    async fn run(self: Arc<Self>) {
        let mut changes = self.store.subscribe();
        loop {
            match changes.recv().await {
                Ok(change) if change.kind == ChangeKind::Missed => self.missed_all(),
                Ok(change) => self.changed(&change),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!("change subscriptions fell {missed} changes behind");
                    self.missed_all();
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Tells every subscription to read again.
    fn missed_all(&self) {
        for subscription in self.by_id.lock().values() {
            subscription.notify(subscription.notice("missed", Value::Null));
        }
    }

    fn changed(&self, change: &switchyard_store::Change) {
        let subscriptions: Vec<Arc<Subscription>> = (self.by_id.lock().values())
            .filter(|s| s.requester.tenant == change.tenant && s.entity == change.type_name)
            .cloned()
            .collect();
        if subscriptions.is_empty() {
            return;
        }
        let object = match change.kind {
            ChangeKind::Deleted => None,
            _ => match self.store.in_tenant(&change.tenant).get(&change.id) {
                Ok(object) => object,
                Err(e) => {
                    tracing::error!("a change could not be read for its subscribers: {e}");
                    subscriptions
                        .iter()
                        .for_each(|s| s.notify(s.notice("missed", Value::Null)));
                    return;
                }
            },
        };
        for subscription in subscriptions {
            let mut inside = subscription.inside.lock();
            let was = inside.contains(&change.id);
            let (operation, data) = match (&change.kind, &object) {
                (ChangeKind::Created | ChangeKind::Updated, Some(object)) => {
                    let now = subscription.matches(object);
                    if now && inside.len() < TRACKED {
                        inside.insert(change.id.clone());
                    } else if !now {
                        inside.remove(&change.id);
                    }
                    if !now && !was {
                        continue;
                    }
                    let operation = match change.kind {
                        ChangeKind::Created => "create",
                        _ => "update",
                    };
                    (operation, Value::Object(object.clone()))
                }
                // Deleted (or gone by the time it was read): sent if it was known to match.
                _ => {
                    if !(inside.remove(&change.id) || subscription.filters.is_empty()) {
                        continue;
                    }
                    ("delete", json!({ "id": change.id }))
                }
            };
            drop(inside);
            subscription.notify(subscription.notice(operation, data));
        }
    }
}

/// Publishes one subscription's notifications in order until it ends.
async fn publish(
    brokers: Brokers,
    subscription: Arc<Subscription>,
    topic: String,
    mut queued: mpsc::Receiver<Value>,
) {
    let brokers = brokers.in_tenant(&subscription.requester.tenant);
    let client = subscription.requester.client.clone();
    // The subscription's own sender lives in it: hold only a weak handle, so ending the
    // subscription ends this task.
    let weak = Arc::downgrade(&subscription);
    drop(subscription);
    while let Some(notice) = queued.recv().await {
        let payload = notice.to_string().into_bytes();
        if let Err(e) = brokers.publish(&client, &topic, payload).await {
            tracing::warn!(%client, %topic, "a notification could not be sent: {e}");
        }
        let Some(subscription) = weak.upgrade() else {
            return;
        };
        if subscription.missed.swap(false, Ordering::AcqRel) {
            let missed = subscription
                .notice("missed", Value::Null)
                .to_string()
                .into_bytes();
            if let Err(e) = brokers.publish(&client, &topic, missed).await {
                tracing::warn!(%client, %topic, "a notification could not be sent: {e}");
            }
        }
    }
}
