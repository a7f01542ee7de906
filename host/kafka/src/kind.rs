//! `KafkaClient` as a client kind: its properties (librdkafka settings under their own names
//! included), defaults and secrets, Kafka's topic names, and the largest message.

use crate::topic;
use serde_json::{Value, json};
use switchyard_model::schema::{Props, is_host_port, servers};
use switchyard_model::{ClientKind, Object};

/// The type of Kafka client objects.
pub const KAFKA_CLIENT: &str = "KafkaClient";

/// Kafka's default `message.max.bytes`, which brokers and librdkafka share.
const MAX_MESSAGE: usize = 1_000_000;

/// The `KafkaClient` kind.
pub struct KafkaKind;

impl ClientKind for KafkaKind {
    fn type_name(&self) -> &'static str {
        KAFKA_CLIENT
    }

    fn short_name(&self) -> &'static str {
        "kafka"
    }

    fn broker_property(&self) -> &'static str {
        "servers"
    }

    fn broker_properties(&self, broker: &str) -> Object {
        servers(broker)
    }

    fn example(&self) -> Value {
        json!({"name": "shop", "servers": ["localhost:9092"], "groupId": "shop", "isEnabled": true})
    }

    fn apply_defaults(&self, object: &mut Object) {
        object.entry("isEnabled").or_insert(Value::Bool(false));
        object
            .entry("startOffset")
            .or_insert(Value::from("earliest"));
    }

    fn validate(&self, object: &Object) -> Result<(), String> {
        let props = Props::new(KAFKA_CLIENT, object);
        props.servers("a `host:port` string", is_host_port)?;
        props.string("groupId")?;
        props.bool("isEnabled")?;
        let start = props.get("startOffset").and_then(Value::as_str);
        props.check(
            matches!(start, Some("earliest" | "latest")),
            "startOffset",
            "`earliest` or `latest`",
        )?;
        librdkafka_settings(&props, object)
    }

    fn check_topic(&self, topic: &str) -> Result<(), String> {
        topic::validate_name(topic).map_err(|e| e.0)
    }

    fn check_filter(&self, filter: &str) -> Result<(), String> {
        topic::subscription(filter).map(drop).map_err(|e| e.0)
    }

    fn message_size(&self, _topic: &str, payload: usize) -> (usize, usize, &'static str) {
        (payload, MAX_MESSAGE, "Kafka message")
    }
}

/// librdkafka settings (`security.protocol`, `sasl.*`, `ssl.*`) given as properties with their
/// dotted names: text only, and nothing else with a dot, so a typo is not ignored.
fn librdkafka_settings(props: &Props, object: &Object) -> Result<(), String> {
    for (key, value) in object.iter().filter(|(k, _)| k.contains('.')) {
        let known =
            key == "security.protocol" || key.starts_with("sasl.") || key.starts_with("ssl.");
        if !known {
            return Err(format!(
                "{KAFKA_CLIENT}.{key} is not a librdkafka setting Switchyard passes on (it \
                 passes security.protocol, sasl.* and ssl.*)"
            ));
        }
        props.check(value.is_string(), key, "a string")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use switchyard_model::Kinds;
    use switchyard_store::{Error, Store};

    fn invalid(result: Result<Object, Error>) -> String {
        match result {
            Err(Error::Invalid(message)) => message,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_client_needs_host_port_servers_and_hides_the_sasl_password() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Kinds::new(vec![Arc::new(KafkaKind)])).unwrap();
        let kafka = store
            .create(
                KAFKA_CLIENT,
                json!({"servers": ["k1:9092", "10.0.0.2:9093"], "groupId": "g",
                       "security.protocol": "SASL_SSL", "sasl.password": "pw"}),
            )
            .unwrap();
        assert_eq!(kafka["isEnabled"], false);
        assert_eq!(kafka["startOffset"], "earliest");
        assert_eq!(kafka["isConnected"], false);
        assert_eq!(kafka["security.protocol"], "SASL_SSL");
        assert!(!kafka.contains_key("sasl.password"));
        let id = kafka["id"].as_str().unwrap();
        assert_eq!(
            store.get_with_secrets(id).unwrap().unwrap()["sasl.password"],
            "pw"
        );

        let expect = |props: Value, message: &str| {
            assert_eq!(
                invalid(store.create(KAFKA_CLIENT, props.clone())),
                message,
                "{props}"
            );
        };
        expect(json!({}), "KafkaClient.servers is required");
        let list =
            "KafkaClient.servers must be a non-empty list, each element a `host:port` string";
        expect(json!({"servers": []}), list);
        expect(json!({"servers": "k1:9092"}), list);
        expect(
            json!({"servers": ["k1"]}),
            "KafkaClient.servers[0] must be a `host:port` string",
        );
        expect(
            json!({"servers": ["k1:9092", "k2:x"]}),
            "KafkaClient.servers[1] must be a `host:port` string",
        );
        expect(
            json!({"servers": ["k1:9092"], "groupId": 1}),
            "KafkaClient.groupId must be a string",
        );
        expect(
            json!({"servers": ["k1:9092"], "isEnabled": "no"}),
            "KafkaClient.isEnabled must be true or false",
        );
        expect(
            json!({"servers": ["k1:9092"], "startOffset": "beginning"}),
            "KafkaClient.startOffset must be `earliest` or `latest`",
        );
        expect(
            json!({"servers": ["k1:9092"], "fetch.max.bytes": "1"}),
            "KafkaClient.fetch.max.bytes is not a librdkafka setting Switchyard passes on (it \
             passes security.protocol, sasl.* and ssl.*)",
        );
        expect(
            json!({"servers": ["k1:9092"], "sasl.mechanism": 1}),
            "KafkaClient.sasl.mechanism must be a string",
        );
    }

    #[test]
    fn a_subscriber_topic_must_be_a_kafka_topic_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Kinds::new(vec![Arc::new(KafkaKind)])).unwrap();
        let kafka = store
            .create(KAFKA_CLIENT, json!({"servers": ["k1:9092"]}))
            .unwrap();
        let id = kafka["id"].as_str().unwrap();
        let subscriber = |topic: &str, clients: Value| {
            store.create(
                "MessageSubscriber",
                json!({"topic": topic, "callback": "p", "clients": clients}),
            )
        };
        assert!(subscriber("orders", json!([id])).is_ok());
        assert!(subscriber("*", json!([id])).is_ok());
        let refused = invalid(subscriber("orders/eu", json!([id])));
        assert!(
            refused.starts_with(&format!(
                "MessageSubscriber.topic cannot be followed by KafkaClient `{id}`: `orders/eu` \
                 is not a Kafka topic name"
            )),
            "{refused}"
        );
        // Linking a Kafka client later is checked too.
        let linked = subscriber("orders/eu", json!([])).unwrap();
        let linked = linked["id"].as_str().unwrap();
        let refused = invalid(store.update(linked, json!({"clients": [id]})));
        assert!(refused.contains("no levels"), "{refused}");
    }
}
