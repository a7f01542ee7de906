//! Temperature recorder: stores every reading and raises an alert when it is too high.
//!
//! For `{"sensorId":"t1","value":21.5}` on `sensors/t1/temperature` it stores
//! `TemperatureReading {sensorId, value, topic}`. When `value` is above the subscriber's
//! `threshold` property (default 30) it publishes `{"sensorId","value"}` to
//! `alerts/<sensorId>` through the client the message came in on.

use serde::{Deserialize, Serialize};
use serde_json::Number;
use switchyard_sdk::{Message, Result, messaging, objects};

/// The payload, and what the alert repeats. `value` stays a JSON number as sent, so `35`
/// is stored and published as `35`, not `35.0`.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Reading {
    sensor_id: String,
    value: Number,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TemperatureReading<'a> {
    #[serde(flatten)]
    reading: &'a Reading,
    topic: &'a str,
}

/// The recorder's settings on its subscriber object.
#[derive(Deserialize)]
struct Settings {
    #[serde(default = "default_threshold")]
    threshold: f64,
}

fn default_threshold() -> f64 {
    30.0
}

fn record(msg: Message) -> Result<()> {
    let reading: Reading = msg.json()?;
    objects::create(
        "TemperatureReading",
        &TemperatureReading {
            reading: &reading,
            topic: &msg.topic,
        },
    )?;

    let settings: Settings = msg.subscriber_as()?;
    if reading
        .value
        .as_f64()
        .is_some_and(|v| v > settings.threshold)
    {
        let topic = format!("alerts/{}", reading.sensor_id);
        messaging::publish_json(&msg.client_id, &topic, &reading)?;
    }
    Ok(())
}

switchyard_sdk::handler!(record);
