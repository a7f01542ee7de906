//! The bench plugins' work written in Rust, registered as native callbacks: the baseline that
//! runs through the very same dispatcher path (routing, matching, write set, commit, publish,
//! acknowledgement) without the sandbox.

use serde_json::{Value, json};
use switchyard_broker::Client;
use switchyard_dispatch::NativeCallback;
use switchyard_runtime::{Effects, Message, Publish};

/// The client the message came in on, resolved as a plugin's publish resolves it.
fn client(effects: &Effects, message: &Message) -> Result<Client, String> {
    (switchyard_broker::resolve(&effects.writes, &message.client_id).map_err(|e| e.to_string())?)
        .ok_or_else(|| format!("no client `{}`", message.client_id))
}

/// What `plugins/recorder` does: parse the reading, store it, read the subscriber's
/// `threshold`, publish an alert above it.
pub struct Recorder;

impl NativeCallback for Recorder {
    fn handle(&self, message: &Message, effects: &mut Effects) -> Result<(), String> {
        let reading: Value = serde_json::from_slice(&message.payload).map_err(|e| e.to_string())?;
        let stored = json!({"sensorId": reading["sensorId"], "value": reading["value"],
                            "topic": message.topic});
        (effects.writes.create("TemperatureReading", stored)).map_err(|e| e.to_string())?;
        let subscriber = effects
            .writes
            .get(&message.subscriber_id)
            .map_err(|e| e.to_string())?;
        let threshold = (subscriber.as_ref())
            .and_then(|s| s.get("threshold").and_then(Value::as_f64))
            .unwrap_or(30.0);
        if reading["value"].as_f64().is_some_and(|v| v > threshold) {
            let client = client(effects, message)?;
            effects.publishes.push(Publish {
                client,
                topic: format!(
                    "alerts/{}",
                    reading["sensorId"].as_str().unwrap_or_default()
                ),
                payload: message.payload.clone(),
            });
        }
        Ok(())
    }
}

/// What `plugins/forwarder` does: read the subscriber's `forwardTo`, publish the payload there
/// through the client it came in on.
pub struct Forwarder;

impl NativeCallback for Forwarder {
    fn handle(&self, message: &Message, effects: &mut Effects) -> Result<(), String> {
        let subscriber = effects
            .writes
            .get(&message.subscriber_id)
            .map_err(|e| e.to_string())?;
        let topic = (subscriber.as_ref())
            .and_then(|s| s.get("forwardTo").and_then(Value::as_str))
            .ok_or("the subscriber has no forwardTo")?;
        let client = client(effects, message)?;
        effects.publishes.push(Publish {
            client,
            topic: topic.to_owned(),
            payload: message.payload.clone(),
        });
        Ok(())
    }
}
