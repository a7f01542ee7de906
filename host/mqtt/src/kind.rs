//! `MQTTClient` as a client kind: its properties, defaults and secrets, the topics and filters
//! an MQTT broker takes, and the largest packet.

use crate::settings::{MAX_PACKET, PUBLISH_OVERHEAD};
use serde_json::{Value, json};
use switchyard_model::schema::{Props, is_url_with_host};
use switchyard_model::{ClientKind, Object};

/// The type of MQTT client objects.
pub const MQTT_CLIENT: &str = "MQTTClient";

const SCHEMES: &[&str] = &["mqtt", "tcp", "mqtts", "ws", "wss"];
const URL_EXPECTED: &str = "`embedded` or a URL with scheme mqtt, tcp, mqtts, ws or wss and a host";

/// The `MQTTClient` kind.
pub struct MqttKind;

fn is_mqtt_url(url: &str) -> bool {
    url == "embedded" || is_url_with_host(url, SCHEMES)
}

impl ClientKind for MqttKind {
    fn type_name(&self) -> &'static str {
        MQTT_CLIENT
    }

    fn short_name(&self) -> &'static str {
        "mqtt"
    }

    fn broker_property(&self) -> &'static str {
        "mainBrokerURL"
    }

    fn example(&self) -> Value {
        json!({"name": "sensors", "mainBrokerURL": "mqtt://localhost:1883", "isEnabled": true})
    }

    fn apply_defaults(&self, object: &mut Object) {
        object.entry("qos").or_insert(Value::from(0));
        object.entry("cleanSession").or_insert(Value::Bool(true));
        object.entry("isEnabled").or_insert(Value::Bool(false));
    }

    fn validate(&self, object: &Object) -> Result<(), String> {
        let props = Props::new(MQTT_CLIENT, object);
        let url = props.required_string("mainBrokerURL")?;
        props.check(is_mqtt_url(url), "mainBrokerURL", URL_EXPECTED)?;
        props.list("fallbackBrokerURLs", URL_EXPECTED, |v| {
            v.as_str().is_some_and(is_mqtt_url)
        })?;
        for prop in ["username", "password", "clientId"] {
            props.string(prop)?;
        }
        let qos = props.get("qos");
        props.check(
            qos.is_none_or(|q| q.as_u64().is_some_and(|q| q <= 2)),
            "qos",
            "0, 1 or 2",
        )?;
        let version = props.get("protocolVersion");
        props.check(
            version.is_none_or(|v| matches!(v.as_u64(), Some(4 | 5))),
            "protocolVersion",
            "4 (MQTT 3.1.1) or 5",
        )?;
        props.bool("cleanSession")?;
        let group = props.get("shareGroup");
        props.check(
            group.is_none_or(|g| g.as_str().is_some_and(is_share_group)),
            "shareGroup",
            "a name without `/`, `+` or `#`",
        )?;
        let prefix = props.get("specPrefix");
        props.check(
            prefix.is_none_or(|p| p.as_str().is_some_and(is_spec_prefix)),
            "specPrefix",
            "topic levels without wildcards, not starting with `$`, such as `spec`",
        )?;
        props.bool("isEnabled")
    }

    fn check_topic(&self, topic: &str) -> Result<(), String> {
        switchyard_topic::validate_name(topic).map_err(|e| e.0)
    }

    fn check_filter(&self, filter: &str) -> Result<(), String> {
        switchyard_topic::validate(filter).map_err(|e| e.0)
    }

    fn message_size(&self, topic: &str, payload: usize) -> (usize, usize, &'static str) {
        (
            payload + topic.len() + PUBLISH_OVERHEAD,
            MAX_PACKET,
            "MQTT packet",
        )
    }
}

/// Whether `name` can name a shared subscription group: MQTT 5 forbids `/`, `+` and `#` in it.
fn is_share_group(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '+', '#'])
}

/// Whether `prefix` can begin the topics of Data over MQTT: whole levels, no wildcards, and
/// not a `$` topic (devices cannot publish those).
fn is_spec_prefix(prefix: &str) -> bool {
    !prefix.starts_with('$')
        && !prefix.contains(['+', '#'])
        && prefix.split('/').all(|level| !level.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use switchyard_model::Kinds;
    use switchyard_store::{Error, Store};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Kinds::new(vec![Arc::new(MqttKind)])).unwrap();
        (dir, store)
    }

    fn invalid(result: Result<Object, Error>) -> String {
        match result {
            Err(Error::Invalid(message)) => message,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn with_url(extra: Value) -> Value {
        let mut props = json!({"mainBrokerURL": "embedded"});
        let extra = extra.as_object().unwrap().clone();
        props.as_object_mut().unwrap().extend(extra);
        props
    }

    #[test]
    fn a_client_gets_defaults_and_initial_status() {
        let (_dir, store) = store();
        let client = store.create(MQTT_CLIENT, with_url(json!({}))).unwrap();
        assert_eq!(client["mainBrokerURL"], "embedded");
        assert_eq!(client["qos"], 0);
        assert_eq!(client["cleanSession"], true);
        assert_eq!(client["isEnabled"], false);
        assert_eq!(client["isConnected"], false);
        assert_eq!(client["lastError"], Value::Null);
    }

    #[test]
    fn every_documented_url_scheme_is_accepted() {
        let (_dir, store) = store();
        for url in [
            "mqtt://broker:1883",
            "tcp://127.0.0.1:1883",
            "mqtts://broker.example.com:8883",
            "ws://localhost:8080/mqtt",
            "wss://broker/mqtt",
        ] {
            let props = json!({"mainBrokerURL": url, "fallbackBrokerURLs": [url, "embedded"]});
            let client =
                (store.create(MQTT_CLIENT, props)).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(client["mainBrokerURL"], url);
        }
    }

    #[test]
    fn errors_name_the_field() {
        let (_dir, store) = store();
        let expect = |props: Value, message: &str| {
            assert_eq!(
                invalid(store.create(MQTT_CLIENT, props.clone())),
                message,
                "{props}"
            );
        };
        expect(json!({}), "MQTTClient.mainBrokerURL is required");
        expect(
            json!({"mainBrokerURL": 5}),
            "MQTTClient.mainBrokerURL must be a string",
        );
        for bad in ["http://broker", "mqtt://", "broker:1883", "embedded2"] {
            let message = format!("MQTTClient.mainBrokerURL must be {URL_EXPECTED}");
            expect(json!({"mainBrokerURL": bad}), &message);
        }
        expect(
            with_url(json!({"fallbackBrokerURLs": "mqtt://a"})),
            &format!("MQTTClient.fallbackBrokerURLs must be a list, each element {URL_EXPECTED}"),
        );
        expect(
            with_url(json!({"fallbackBrokerURLs": ["mqtt://a", "ftp://b"]})),
            &format!("MQTTClient.fallbackBrokerURLs[1] must be {URL_EXPECTED}"),
        );
        for qos in [json!(3), json!(-1), json!(1.5), json!("1")] {
            expect(
                with_url(json!({"qos": qos})),
                "MQTTClient.qos must be 0, 1 or 2",
            );
        }
        expect(
            with_url(json!({"cleanSession": "yes"})),
            "MQTTClient.cleanSession must be true or false",
        );
        expect(
            with_url(json!({"isEnabled": 1})),
            "MQTTClient.isEnabled must be true or false",
        );
        for prop in ["name", "username", "password", "clientId"] {
            expect(
                with_url(json!({ prop: 1 })),
                &format!("MQTTClient.{prop} must be a string"),
            );
        }
    }

    #[test]
    fn checks_apply_to_the_merged_object() {
        let (_dir, store) = store();
        let client = store
            .create(MQTT_CLIENT, with_url(json!({"qos": 1})))
            .unwrap();
        let id = client["id"].as_str().unwrap();
        assert_eq!(
            invalid(store.update(id, json!({"qos": 7}))),
            "MQTTClient.qos must be 0, 1 or 2"
        );
        assert_eq!(
            invalid(store.update(id, json!({"mainBrokerURL": null}))),
            "MQTTClient.mainBrokerURL is required"
        );
        let updated = store.update(id, json!({"qos": null})).unwrap();
        assert_eq!(
            updated["qos"], 0,
            "removing a defaulted property brings the default back"
        );
    }

    #[test]
    fn a_message_is_measured_as_the_packet_it_makes() {
        let (size, max, unit) = MqttKind.message_size("t", 100);
        assert_eq!(
            (size, max, unit),
            (100 + 1 + PUBLISH_OVERHEAD, MAX_PACKET, "MQTT packet")
        );
    }
}
