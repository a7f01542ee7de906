//! `PulsarClient` as a client kind: its properties, defaults and secrets (the token), Pulsar's
//! topic names (short or full, matched in their short form), and the largest message.

use crate::topic;
use serde_json::{Value, json};
use switchyard_model::schema::{Props, is_url_with_host, servers};
use switchyard_model::{ClientKind, Object};

/// The type of Pulsar client objects.
pub const PULSAR_CLIENT: &str = "PulsarClient";

const SCHEMES: &[&str] = &["pulsar", "pulsar+ssl"];
const SUBSCRIPTION_TYPES: &[&str] = &["Exclusive", "Shared", "Failover", "KeyShared"];
/// Pulsar's default `maxMessageSize`.
const MAX_MESSAGE: usize = 5 << 20;

/// The `PulsarClient` kind.
pub struct PulsarKind;

impl ClientKind for PulsarKind {
    fn type_name(&self) -> &'static str {
        PULSAR_CLIENT
    }

    fn short_name(&self) -> &'static str {
        "pulsar"
    }

    fn broker_property(&self) -> &'static str {
        "servers"
    }

    fn broker_properties(&self, broker: &str) -> Object {
        servers(broker)
    }

    fn example(&self) -> Value {
        json!({"name": "shop", "servers": ["pulsar://localhost:6650"], "isEnabled": true})
    }

    fn apply_defaults(&self, object: &mut Object) {
        object.entry("isEnabled").or_insert(Value::Bool(false));
    }

    fn validate(&self, object: &Object) -> Result<(), String> {
        let props = Props::new(PULSAR_CLIENT, object);
        props.servers("a `pulsar://` or `pulsar+ssl://` URL with a host", |s| {
            is_url_with_host(s, SCHEMES)
        })?;
        props.bool("isEnabled")?;
        props.string("subscription")?;
        let kind = props.get("subscriptionType");
        props.check(
            kind.is_none_or(|k| k.as_str().is_some_and(|k| SUBSCRIPTION_TYPES.contains(&k))),
            "subscriptionType",
            "one of Exclusive, Shared, Failover, KeyShared",
        )
    }

    fn check_topic(&self, topic: &str) -> Result<(), String> {
        topic::full_name(topic).map(drop).map_err(|e| e.0)
    }

    fn check_filter(&self, filter: &str) -> Result<(), String> {
        topic::subscription(filter).map(drop).map_err(|e| e.0)
    }

    fn route_filter(&self, filter: &str) -> String {
        topic::short_name(filter).to_owned()
    }

    fn message_size(&self, _topic: &str, payload: usize) -> (usize, usize, &'static str) {
        (payload, MAX_MESSAGE, "Pulsar message")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use switchyard_model::Kinds;
    use switchyard_store::{Error, Store};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Kinds::new(vec![Arc::new(PulsarKind)])).unwrap();
        (dir, store)
    }

    fn invalid(result: Result<Object, Error>) -> String {
        match result {
            Err(Error::Invalid(message)) => message,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_client_needs_pulsar_urls_and_a_known_subscription_type() {
        let (_dir, store) = store();
        let pulsar = store
            .create(
                PULSAR_CLIENT,
                json!({"servers": ["pulsar://p:6650", "pulsar+ssl://p:6651"],
                       "subscription": "s", "subscriptionType": "KeyShared"}),
            )
            .unwrap();
        assert_eq!(pulsar["isEnabled"], false);
        assert_eq!(pulsar["lastError"], Value::Null);
        let with_token = (store.create(
            PULSAR_CLIENT,
            json!({"servers": ["pulsar://p"], "token": "jwt"}),
        ))
        .unwrap();
        assert_eq!(with_token.get("token"), None, "the token is write-only");

        let expect = |props: Value, message: &str| {
            assert_eq!(
                invalid(store.create(PULSAR_CLIENT, props.clone())),
                message,
                "{props}"
            );
        };
        expect(json!({}), "PulsarClient.servers is required");
        expect(
            json!({"servers": ["http://p:6650"]}),
            "PulsarClient.servers[0] must be a `pulsar://` or `pulsar+ssl://` URL with a host",
        );
        expect(
            json!({"servers": ["pulsar://p"], "subscriptionType": "Random"}),
            "PulsarClient.subscriptionType must be one of Exclusive, Shared, Failover, KeyShared",
        );
        expect(
            json!({"servers": ["pulsar://p"], "subscription": 3}),
            "PulsarClient.subscription must be a string",
        );
    }

    #[test]
    fn a_subscriber_topic_must_be_one_pulsar_can_follow() {
        let (_dir, store) = store();
        let pulsar =
            (store.create(PULSAR_CLIENT, json!({"servers": ["pulsar://p:6650"]}))).unwrap();
        let id = pulsar["id"].as_str().unwrap();
        let subscriber = |topic: &str| {
            store.create(
                "MessageSubscriber",
                json!({"topic": topic, "callback": "p", "clients": [id]}),
            )
        };
        for topic in [
            "orders",
            "acme/eu/orders",
            "*",
            "acme/eu/*",
            "persistent://public/default/orders",
            "persistent://acme/eu/*",
        ] {
            assert!(subscriber(topic).is_ok(), "{topic}");
        }
        for (topic, why) in [
            ("orders/eu", "it has one level or three"),
            ("acme/*/orders", "a topic name has no wildcards"),
            (
                "non-persistent://public/default/orders",
                "persistent topics only",
            ),
        ] {
            let refused = invalid(subscriber(topic));
            let head = format!("MessageSubscriber.topic cannot be followed by PulsarClient `{id}`");
            assert!(
                refused.starts_with(&head) && refused.contains(why),
                "{topic}: {refused}"
            );
        }
    }

    #[test]
    fn a_full_topic_name_is_matched_in_its_short_form() {
        let route = |filter: &str| PulsarKind.route_filter(filter);
        assert_eq!(route("persistent://public/default/orders"), "orders");
        assert_eq!(route("persistent://acme/eu/orders"), "acme/eu/orders");
        assert_eq!(route("persistent://acme/eu/*"), "acme/eu/*");
        assert_eq!(route("orders"), "orders");
        assert!(switchyard_topic::matches(
            &route("persistent://public/default/orders"),
            "orders"
        ));
    }
}
