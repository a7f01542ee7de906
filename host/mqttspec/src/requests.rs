//! The brokers' `Inbound` in front of the dispatcher: a client with `specPrefix` also follows
//! `<prefix>/+/request`, and what arrives there is answered here instead of dispatched.
//!
//! Requests of one requester (the `{client_id}` of their topic) run one after another, in the
//! order they arrived, so a create followed by an update of what it made cannot swap; other
//! requesters' run alongside. A request is acknowledged once its write is on disk and its
//! response handed to the broker; one the store could not serve at all (it is unreachable) is
//! not acknowledged, and comes again.

use crate::envelope::{self, Code, Failure};
use crate::operations::{self, Caller, Origin};
use crate::subscriptions::{Requester, Subscriptions};
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use switchyard_broker::{BoxFuture, Brokers, Inbound, Incoming, Outcome, Sender, Unsettled};
use switchyard_changes::Feeds;
use switchyard_lifecycle::Lifecycle;
use switchyard_model::{Device, Report};
use switchyard_store::Store;
use tokio::sync::oneshot;

/// The embedded broker's events of devices leaving, whose subscriptions may end with them.
const DISCONNECTED: &str = "$events/disconnected/+";

/// The property that turns Data over MQTT on for an `MQTTClient`.
const PREFIX: &str = "specPrefix";
const MQTT_CLIENT: &str = "MQTTClient";

pub struct Requests {
    next: Arc<dyn Inbound>,
    store: Store,
    brokers: Brokers,
    subscriptions: Arc<Subscriptions>,
    lifecycle: Lifecycle,
    served: Mutex<Served>,
    /// Per requester, the end of its latest request, for the next one to wait for.
    turns: Mutex<HashMap<(String, String), Turn>>,
}

/// Which clients serve requests, read once per change to the clients; by client id (object
/// ids are unique across tenants), so a message's lookup allocates nothing.
#[derive(Default)]
struct Served {
    generation: u64,
    by_client: HashMap<String, Option<Arc<Service>>>,
}

/// How one client serves requests.
struct Service {
    prefix: String,
    /// Whether it is a client of the embedded broker, which vouches for who published.
    embedded: bool,
}

struct Turn {
    number: u64,
    done: oneshot::Receiver<()>,
}

impl Requests {
    /// Answers requests on the clients that serve them, and hands every other message to
    /// `next`. Responses go out through `brokers`, subscriptions are served from `feeds`,
    /// and the tenants' `lifecycle` hooks are asked.
    pub fn new(
        next: Arc<dyn Inbound>,
        store: Store,
        brokers: Brokers,
        feeds: Arc<Feeds>,
        lifecycle: Lifecycle,
    ) -> Arc<Requests> {
        Arc::new(Requests {
            next,
            lifecycle,
            subscriptions: Subscriptions::new(feeds, brokers.clone()),
            store,
            brokers,
            served: Mutex::default(),
            turns: Mutex::default(),
        })
    }

    /// How `tenant`'s client `client_id` serves requests, if it does.
    fn service(&self, tenant: &str, client_id: &str) -> Option<Arc<Service>> {
        let generation = self.store.generation(MQTT_CLIENT);
        {
            let mut served = self.served.lock();
            if served.generation != generation {
                served.by_client.clear();
                served.generation = generation;
            }
            if let Some(found) = served.by_client.get(client_id) {
                return found.clone();
            }
        }
        let object = match self.store.in_tenant(tenant).get(client_id) {
            Ok(object) => object,
            Err(e) => {
                tracing::error!(
                    tenant,
                    client = client_id,
                    "cannot read a client: {}",
                    Report(&e)
                );
                return None;
            }
        };
        let found = object
            .filter(|object| switchyard_model::type_of(object) == MQTT_CLIENT)
            .and_then(|object| {
                let prefix = object.get(PREFIX)?.as_str()?.to_owned();
                let embedded =
                    object.get("mainBrokerURL").and_then(Value::as_str) == Some("embedded");
                Some(Arc::new(Service { prefix, embedded }))
            });
        let mut served = self.served.lock();
        if served.generation == generation {
            served.by_client.insert(client_id.to_owned(), found.clone());
        }
        found
    }

    /// Takes the requester's turn, in arrival order: what to wait for (its previous request's
    /// end), and what ends this one's.
    fn take_turn(
        self: &Arc<Self>,
        key: (String, String),
    ) -> (Option<oneshot::Receiver<()>>, TurnEnd) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        let (done, waited) = oneshot::channel();
        let turn = Turn {
            number,
            done: waited,
        };
        let previous = self.turns.lock().insert(key.clone(), turn);
        let end = TurnEnd {
            requests: self.clone(),
            key,
            number,
            done: Some(done),
        };
        (previous.map(|turn| turn.done), end)
    }

    async fn answer(
        self: Arc<Self>,
        service: Arc<Service>,
        message: Incoming,
        requester: String,
        previous: Option<oneshot::Receiver<()>>,
        end: TurnEnd,
    ) -> Outcome {
        if let Some(previous) = previous {
            // An error means the previous request was dropped: its turn is over all the same.
            let _ = previous.await;
        }
        let sender = message.sender.as_ref();
        if service.embedded && sender.map(|s| s.client_id.as_str()) != Some(&requester) {
            // Not answered either: the answer would go to the client id it pretends to be.
            tracing::warn!(
                client = %message.client_id,
                sender = sender.map_or("Switchyard itself", |s| s.client_id.as_str()),
                "a request on `{}` must come from client id `{requester}`: not served",
                message.topic
            );
            return Outcome::Done;
        }
        let store = self.store.in_tenant(&message.tenant);
        let answer = match envelope::parse(&message.payload) {
            Ok(request) => {
                let origin = Origin {
                    subscriptions: &self.subscriptions,
                    lifecycle: &self.lifecycle,
                    prefix: &service.prefix,
                    requester: Requester {
                        tenant: message.tenant.clone(),
                        client: message.client_id.clone(),
                        id: requester.clone(),
                    },
                };
                let outcome = match caller(&store, &service, sender) {
                    Ok(caller) => operations::run(&store, &caller, &origin, &request).await,
                    Err(refused) => Err(refused),
                };
                if let Err(Failure {
                    unserved: Some(error),
                    ..
                }) = outcome
                {
                    // Nothing was done: the broker brings the request again.
                    return Outcome::Retry(Unsettled::Store(error));
                }
                Some((request.id, outcome))
            }
            Err((Some(id), failure)) => Some((id, Err(failure))),
            Err((None, failure)) => {
                tracing::warn!(
                    client = %message.client_id,
                    topic = %message.topic,
                    "a request that cannot be answered (it has no id): {}",
                    failure.message
                );
                None
            }
        };
        if let Some((id, outcome)) = answer {
            let topic = format!("{}/{requester}/response", service.prefix);
            let brokers = self.brokers.in_tenant(&message.tenant);
            let payload = envelope::response(&id, &outcome);
            if let Err(e) = brokers.publish(&message.client_id, &topic, payload).await {
                tracing::warn!(client = %message.client_id, %topic, "a response could not be sent: {e}");
            }
        }
        drop(end);
        Outcome::Done
    }
}

impl Requests {
    /// A device left the embedded broker: unless its session is kept, so are its
    /// subscriptions. (The event goes on to the dispatcher, for the tenant's own subscribers.)
    fn session_ended(&self, message: &Incoming) {
        let Ok(event) = serde_json::from_slice::<Value>(&message.payload) else {
            return;
        };
        let kept = event["sessionKept"].as_bool() == Some(true);
        if let (false, Some(requester)) = (kept, event["clientId"].as_str()) {
            (self.subscriptions).end(&message.tenant, &message.client_id, requester);
        }
    }
}

/// Ends a request's turn when dropped (answered, or given up), and forgets the requester if
/// nobody queued behind it.
struct TurnEnd {
    requests: Arc<Requests>,
    key: (String, String),
    number: u64,
    done: Option<oneshot::Sender<()>>,
}

impl Drop for TurnEnd {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        let mut turns = self.requests.turns.lock();
        if turns
            .get(&self.key)
            .is_some_and(|turn| turn.number == self.number)
        {
            turns.remove(&self.key);
        }
    }
}

/// The `{client_id}` of `<prefix>/{client_id}/request`.
fn requester<'a>(prefix: &str, topic: &'a str) -> Option<&'a str> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let requester = rest.strip_suffix("/request")?;
    (!requester.is_empty() && !requester.contains('/')).then_some(requester)
}

/// Who is asking: on the embedded broker, the device that sent the request (held to its
/// lists); elsewhere the broker's ACL decided who may publish it.
fn caller(store: &Store, service: &Service, sender: Option<&Sender>) -> Result<Caller, Failure> {
    let device = sender.and_then(|sender| sender.device.as_ref());
    let (true, Some(device)) = (service.embedded, device) else {
        return Ok(Caller::Trusted);
    };
    match store.get(device)?.as_ref().and_then(Device::of) {
        Some(device) => Ok(Caller::Device(device)),
        None => Err(Failure::new(
            Code::Denied,
            "the device that sent the request is gone",
        )),
    }
}

impl Inbound for Requests {
    fn filters_for(&self, tenant: &str, client_id: &str) -> Vec<String> {
        let mut filters = self.next.filters_for(tenant, client_id);
        if let Some(service) = self.service(tenant, client_id) {
            filters.push(format!("{}/+/request", service.prefix));
            if service.embedded {
                filters.push(DISCONNECTED.to_owned());
            }
        }
        filters
    }

    fn dispatch(self: Arc<Self>, message: Incoming) -> BoxFuture<'static, Outcome> {
        let service = self.service(&message.tenant, &message.client_id);
        if service.as_ref().is_some_and(|service| service.embedded)
            && switchyard_topic::matches(DISCONNECTED, &message.topic)
        {
            self.session_ended(&message);
        }
        let requester = (service.as_ref())
            .and_then(|service| requester(&service.prefix, &message.topic))
            .map(str::to_owned);
        let (Some(service), Some(requester)) = (service, requester) else {
            return self.next.clone().dispatch(message);
        };
        let key = (message.client_id.clone(), requester.clone());
        let (previous, end) = self.take_turn(key);
        Box::pin(self.answer(service, message, requester, previous, end))
    }

    fn durable(&self) -> BoxFuture<'_, Result<(), switchyard_store::Error>> {
        self.next.durable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_requester_is_the_level_between_prefix_and_request() {
        assert_eq!(requester("spec", "spec/dev-1/request"), Some("dev-1"));
        assert_eq!(requester("a/b", "a/b/x/request"), Some("x"));
        assert_eq!(requester("spec", "spec/a/b/request"), None);
        assert_eq!(requester("spec", "spec//request"), None);
        assert_eq!(requester("spec", "spec/dev-1/response"), None);
        assert_eq!(requester("spec", "specs/dev-1/request"), None);
    }
}
