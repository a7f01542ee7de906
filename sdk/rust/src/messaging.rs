//! Messages out through the broker clients Switchyard manages. Publishes are queued and go
//! out only after the handler returns `Ok`.

use serde::Serialize;

use crate::bindings::switchyard::plugin::messaging as wit;
use crate::{Result, json};

/// Publishes `payload` to `topic` through `client` (a client object's id or its `name`;
/// [`Message::client_id`](crate::Message::client_id) replies on the client the message came in on).
pub fn publish(client: &str, topic: &str, payload: impl AsRef<[u8]>) -> Result<()> {
    Ok(wit::publish(client, topic, payload.as_ref())?)
}

/// Publishes `value` serialized as JSON.
pub fn publish_json(client: &str, topic: &str, value: &impl Serialize) -> Result<()> {
    let payload = json::to_string(value, || format!("payload for topic `{topic}`"))?;
    publish(client, topic, payload)
}

/// Adds a topic subscription to `client` (Structr's `mqttSubscribe`).
pub fn subscribe(client: &str, topic: &str) -> Result<()> {
    Ok(wit::subscribe(client, topic)?)
}

/// Removes a topic subscription from `client` (Structr's `mqttUnsubscribe`).
pub fn unsubscribe(client: &str, topic: &str) -> Result<()> {
    Ok(wit::unsubscribe(client, topic)?)
}
