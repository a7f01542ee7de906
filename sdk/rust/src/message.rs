//! The message a handler receives, with helpers to read its payload and the settings stored
//! on the subscriber it runs for.

use serde::de::DeserializeOwned;

use crate::bindings::switchyard::plugin::types::Message as WitMessage;
use crate::{Error, Object, Result, json, objects};

/// One message as it arrived from a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic (MQTT), topic name (Kafka) or topic URL (Pulsar) it arrived on.
    pub topic: String,
    /// The message body, exactly as received.
    pub payload: Vec<u8>,
    /// The id of the client object the message arrived on; publish replies through it.
    pub client_id: String,
    /// The id of the subscriber object this invocation runs for (Structr's `$.this`).
    pub subscriber_id: String,
    /// The message key, where the broker has one (Kafka, Pulsar).
    pub key: Option<Vec<u8>>,
    /// Message headers (Kafka), properties (Pulsar) or user properties (MQTT 5).
    pub headers: Vec<(String, Vec<u8>)>,
    /// When the host received the message, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The subscriber object as JSON, as the host handed it with the message.
    subscriber: Option<String>,
}

impl Message {
    /// The payload as UTF-8 text.
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.payload).map_err(Error::Utf8)
    }

    /// The payload parsed as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        json::parse(&self.payload, || "message payload".to_owned())
    }

    /// The subscriber object this invocation runs for, with all its properties: where a
    /// plugin keeps its settings, so one plugin serves many subscribers.
    pub fn subscriber(&self) -> Result<Object> {
        self.subscriber_as()
    }

    /// The subscriber object read into `T`, typically a struct of the plugin's settings with
    /// `#[serde(default)]` fields. The host hands the object with the message, as it was when
    /// the message was routed; where it did not, it is read with `objects.get`.
    pub fn subscriber_as<T: DeserializeOwned>(&self) -> Result<T> {
        if let Some(object) = &self.subscriber {
            let context = || format!("subscriber object `{}`", self.subscriber_id);
            return json::parse(object.as_bytes(), context);
        }
        objects::read(&self.subscriber_id, "subscriber object")?.ok_or_else(|| {
            Error::NotFound(format!(
                "subscriber object `{}` does not exist",
                self.subscriber_id
            ))
        })
    }

    /// A message as the host hands it, with its subscriber object if it came with one.
    pub(crate) fn new(m: WitMessage, subscriber: Option<String>) -> Message {
        Message {
            topic: m.topic,
            payload: m.payload,
            client_id: m.client_id,
            subscriber_id: m.subscriber_id,
            key: m.key,
            headers: m.headers,
            timestamp_ms: m.timestamp_ms,
            subscriber,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &[u8]) -> Message {
        Message {
            topic: "sensors/t1/temperature".into(),
            payload: payload.to_vec(),
            client_id: "c".into(),
            subscriber_id: "s".into(),
            key: None,
            headers: Vec::new(),
            timestamp_ms: 0,
            subscriber: Some(r#"{"id":"s","threshold":20}"#.into()),
        }
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Reading {
        sensor_id: String,
        value: f64,
    }

    #[test]
    fn json_payload_is_read_into_a_type() {
        let reading: Reading = message(br#"{"sensorId":"t1","value":21.5}"#)
            .json()
            .unwrap();
        assert_eq!(
            reading,
            Reading {
                sensor_id: "t1".into(),
                value: 21.5
            }
        );
    }

    #[test]
    fn a_payload_missing_a_field_says_which() {
        let error = message(br#"{"sensorId":"t1"}"#)
            .json::<Reading>()
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("message payload: missing field `value`"),
            "{text}"
        );
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Settings {
        threshold: u32,
    }

    #[test]
    fn settings_are_read_from_the_subscriber_handed_with_the_message() {
        let settings: Settings = message(b"{}").subscriber_as().unwrap();
        assert_eq!(settings, Settings { threshold: 20 });
        let mut broken = message(b"{}");
        broken.subscriber = Some(r#"{"threshold":"high"}"#.into());
        let text = broken.subscriber_as::<Settings>().unwrap_err().to_string();
        assert!(
            text.starts_with("subscriber object `s`, field `threshold`"),
            "{text}"
        );
    }

    #[test]
    fn text_rejects_invalid_utf8() {
        assert_eq!(message(b"hello").text().unwrap(), "hello");
        assert_eq!(message(&[0xff, 0xfe]).text().unwrap_err().kind(), "utf8");
    }
}
