//! Broker clients as plugins and the API name them (object id or `name`), and the largest
//! message each kind of broker takes, so a publish that could never be sent fails at the call.

use serde_json::Value;
use switchyard_store::{Filter, Op, Query, Result, Txn};

/// Object types that are broker clients.
pub const CLIENT_TYPES: &[&str] = &["MQTTClient", "KafkaClient", "PulsarClient"];

/// The largest MQTT packet Switchyard's clients and embedded broker send or accept.
pub const MQTT_MAX_PACKET: usize = 10 << 20;
/// Kafka's default `message.max.bytes`, which brokers and librdkafka share.
pub const KAFKA_MAX_MESSAGE: usize = 1_000_000;
/// Pulsar's default `maxMessageSize`.
pub const PULSAR_MAX_MESSAGE: usize = 5 << 20;

/// A resolved client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub type_name: String,
    pub name: Option<String>,
    /// Its `isEnabled`: a disabled client has no connection to send through.
    pub enabled: bool,
}

impl Client {
    fn of(object: &switchyard_store::Object) -> Option<Client> {
        let text = |k: &str| object.get(k).and_then(Value::as_str).map(str::to_owned);
        let type_name = text("type").filter(|t| CLIENT_TYPES.contains(&t.as_str()))?;
        Some(Client {
            id: text("id")?,
            type_name,
            name: text("name"),
            enabled: object.get("isEnabled").and_then(Value::as_bool) == Some(true),
        })
    }

    /// Checks that this client's broker can take `topic` as a topic name (Kafka's have no `/`,
    /// Pulsar's have one level or three).
    pub fn check_topic(&self, topic: &str) -> std::result::Result<(), String> {
        let checked = match self.type_name.as_str() {
            "KafkaClient" => switchyard_topic::kafka::validate_name(topic),
            "PulsarClient" => switchyard_topic::pulsar::full_name(topic).map(drop),
            _ => switchyard_topic::validate_name(topic),
        };
        checked.map_err(|e| format!("cannot publish to `{topic}`: {}", e.0))
    }

    /// Checks that this client's broker can subscribe to `filter`.
    pub fn check_filter(&self, filter: &str) -> std::result::Result<(), String> {
        let checked = match self.type_name.as_str() {
            "KafkaClient" => switchyard_topic::kafka::subscription(filter).map(drop),
            "PulsarClient" => switchyard_topic::pulsar::subscription(filter).map(drop),
            _ => switchyard_topic::validate(filter),
        };
        checked.map_err(|e| format!("invalid topic filter `{filter}`: {}", e.0))
    }

    /// Checks that a message of `payload` bytes to `topic` fits what this client's broker
    /// takes; the error says by how much it does not.
    pub fn check_size(&self, topic: &str, payload: usize) -> std::result::Result<(), String> {
        let (size, max, unit) = match self.type_name.as_str() {
            // Fixed header, topic length, packet id and MQTT 5 properties fit in 16 bytes.
            "MQTTClient" => (payload + topic.len() + 16, MQTT_MAX_PACKET, "MQTT packet"),
            "KafkaClient" => (payload, KAFKA_MAX_MESSAGE, "Kafka message"),
            _ => (payload, PULSAR_MAX_MESSAGE, "Pulsar message"),
        };
        if size <= max {
            return Ok(());
        }
        Err(format!(
            "message too large: a {payload}-byte payload makes a {size}-byte {unit}, over the \
             {max} bytes {} `{}` can send",
            self.type_name, self.id
        ))
    }
}

/// The client with this object id or `name`, if there is one.
pub fn resolve(txn: &Txn, reference: &str) -> Result<Option<Client>> {
    if let Some(object) = txn.get(reference)? {
        return Ok(Client::of(&object));
    }
    let by_name = Query {
        filters: vec![Filter {
            column: "name".into(),
            op: Op::Eq,
            value: reference.into(),
        }],
        limit: Some(1),
        ..Query::default()
    };
    for type_name in CLIENT_TYPES {
        if let Some(found) = txn.query(type_name, &by_name)?.result.first() {
            return Ok(Client::of(found));
        }
    }
    Ok(None)
}
