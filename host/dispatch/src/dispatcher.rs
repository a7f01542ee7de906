//! The dispatcher: finds the subscribers a message is for, runs their callbacks one after the
//! other (keeping order per client), commits what each callback wrote, sends what it
//! published, and records a `FailedMessage` for a callback that failed.

use crate::{BoxFuture, Brokers, Inbound, Incoming};
use base64::Engine as _;
use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_runtime::{Effects, Message, Runtime, SubscriptionChange};
use switchyard_store::{Filter, Object, Op, Query, Store};

/// Runs the callbacks for incoming messages. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    runtime: Runtime,
    brokers: Brokers,
}

/// The parts of a `MessageSubscriber` the dispatcher needs.
struct Subscriber {
    id: String,
    topic: String,
    callback: String,
}

impl Dispatcher {
    pub fn new(store: Store, runtime: Runtime, brokers: Brokers) -> Dispatcher {
        Dispatcher {
            inner: Arc::new(Inner {
                store,
                runtime,
                brokers,
            }),
        }
    }

    /// The subscribers linked to a client, read fresh so changes apply without a restart.
    fn subscribers(&self, client_id: &str) -> Vec<Subscriber> {
        let query = Query {
            filters: vec![Filter {
                column: "clients".into(),
                op: Op::Contains,
                value: client_id.into(),
            }],
            ..Query::default()
        };
        let page = match self.inner.store.query("MessageSubscriber", &query) {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(client = client_id, "cannot read subscribers: {e}");
                return Vec::new();
            }
        };
        let text = |o: &Object, k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
        (page.result.iter())
            .filter_map(|o| {
                Some(Subscriber {
                    id: text(o, "id")?,
                    topic: text(o, "topic")?,
                    callback: text(o, "callback")?,
                })
            })
            .collect()
    }

    /// Runs every matching subscriber's callback on the message, in order.
    pub async fn dispatch(&self, incoming: Incoming) {
        let subscribers = self.subscribers(&incoming.client_id);
        for subscriber in subscribers {
            if switchyard_topic::matches(&subscriber.topic, &incoming.topic) {
                self.run(&subscriber, &incoming).await;
            }
        }
    }

    async fn run(&self, subscriber: &Subscriber, incoming: &Incoming) {
        let message = Message {
            topic: incoming.topic.clone(),
            payload: incoming.payload.clone(),
            client_id: incoming.client_id.clone(),
            subscriber_id: subscriber.id.clone(),
            key: incoming.key.clone(),
            headers: incoming.headers.clone(),
            timestamp_ms: incoming.received_at_ms,
        };
        let result = match self
            .inner
            .runtime
            .invoke(&subscriber.callback, message)
            .await
        {
            Ok(effects) => self.apply(effects).await,
            Err(e) => Err(e.to_string()),
        };
        if let Err(error) = result {
            tracing::warn!(
                subscriber = %subscriber.id,
                plugin = %subscriber.callback,
                topic = %incoming.topic,
                "callback failed: {error}"
            );
            self.record_failure(subscriber, incoming, &error);
        }
    }

    /// Commits the callback's writes, then sends its publishes and subscription changes.
    async fn apply(&self, effects: Effects) -> Result<(), String> {
        effects
            .writes
            .commit()
            .map_err(|e| format!("committing the callback's writes failed: {e}"))?;
        let brokers = &self.inner.brokers;
        for publish in effects.publishes {
            let (client, topic) = (&publish.client_id, &publish.topic);
            if let Err(e) = brokers.publish(client, topic, publish.payload).await {
                tracing::warn!(client = %client, topic = %topic, "publish failed: {e}");
            }
        }
        for change in effects.subscriptions {
            let result = match &change {
                SubscriptionChange::Subscribe { client_id, topic } => {
                    brokers.subscribe(client_id, topic).await
                }
                SubscriptionChange::Unsubscribe { client_id, topic } => {
                    brokers.unsubscribe(client_id, topic).await
                }
            };
            if let Err(e) = result {
                tracing::warn!(?change, "subscription change failed: {e}");
            }
        }
        Ok(())
    }

    /// Keeps the message and the reason, so the user can inspect and replay it.
    fn record_failure(&self, subscriber: &Subscriber, incoming: &Incoming, error: &str) {
        let payload = &incoming.payload;
        let record = json!({
            "subscriber": subscriber.id,
            "callback": subscriber.callback,
            "client": incoming.client_id,
            "topic": incoming.topic,
            "payload": std::str::from_utf8(payload).ok(),
            "payloadBase64": base64::engine::general_purpose::STANDARD.encode(payload),
            "error": error,
            "attempts": 1,
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        if let Err(e) = self.inner.store.create("FailedMessage", record) {
            tracing::error!(subscriber = %subscriber.id, "cannot record failed message: {e}");
        }
    }
}

impl Inbound for Dispatcher {
    fn filters_for(&self, client_id: &str) -> Vec<String> {
        let mut filters: Vec<String> = (self.subscribers(client_id).into_iter())
            .map(|s| s.topic)
            .collect();
        filters.sort();
        filters.dedup();
        filters
    }

    fn dispatch(&self, message: Incoming) -> BoxFuture<'_, ()> {
        Box::pin(Dispatcher::dispatch(self, message))
    }
}
