//! `MessageSubscriber`: which messages (a topic filter on some clients) run which callback, and
//! how its failures are retried. Its other properties are settings its plugin reads.

use crate::schema::{PLUGIN_NAME_EXPECTED, Props, is_plugin_name};
use crate::{MESSAGE_SUBSCRIBER, Object, text};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Attempts a failing callback gets unless its subscriber sets `maxAttempts`.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// The wait before the first retry unless its subscriber sets `retryDelayMs`.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);
/// Bounds of a subscriber's retry policy: enough for any sane backoff, not a way to keep a
/// message cycling forever.
const MAX_ATTEMPTS: u64 = 100;
const MAX_RETRY_DELAY_MS: u64 = 24 * 3600 * 1000;

/// The parts of a `MessageSubscriber` the host acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscriber {
    pub id: String,
    pub topic: String,
    /// The plugin (or native callback) it runs.
    pub callback: String,
    /// The ids of the clients whose messages it takes.
    pub clients: Vec<String>,
    /// How many times a failing callback runs before its message is recorded as failed.
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles per attempt.
    pub retry_delay: Duration,
    /// Whether its callbacks run one at a time per topic (the default), or as they come.
    pub ordered: bool,
    /// The whole object as JSON, as a plugin reads it: encoded once per change and handed to
    /// its callback with each message, so no callback reads and re-encodes it per message.
    pub object: Arc<str>,
}

impl Subscriber {
    /// Reads a stored `MessageSubscriber` (validated on write); `None` for anything else.
    pub fn of(object: &Object) -> Option<Subscriber> {
        if crate::type_of(object) != MESSAGE_SUBSCRIBER {
            return None;
        }
        let number = |key: &str| object.get(key).and_then(Value::as_u64);
        let clients = object.get("clients").and_then(Value::as_array);
        Some(Subscriber {
            id: text(object, "id")?.to_owned(),
            topic: text(object, "topic")?.to_owned(),
            callback: text(object, "callback")?.to_owned(),
            clients: (clients.into_iter().flatten())
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            max_attempts: number("maxAttempts").map_or(DEFAULT_ATTEMPTS, |n| n.max(1) as u32),
            retry_delay: number("retryDelayMs").map_or(DEFAULT_RETRY_DELAY, Duration::from_millis),
            ordered: object.get("ordered").and_then(Value::as_bool) != Some(false),
            object: (serde_json::to_string(object).expect("a JSON object serializes")).into(),
        })
    }

    /// Fills in the defaults a stored subscriber shows.
    pub fn apply_defaults(object: &mut Object) {
        object
            .entry("clients")
            .or_insert_with(|| Value::Array(Vec::new()));
    }

    /// Checks a subscriber's properties; the message names the property.
    pub fn validate(object: &Object) -> Result<(), String> {
        let props = Props::new(MESSAGE_SUBSCRIBER, object);
        props.string("name")?;
        let topic = props.required_string("topic")?;
        switchyard_topic::validate(topic).map_err(|e| {
            format!("{MESSAGE_SUBSCRIBER}.topic `{topic}` is not a valid topic filter: {e}")
        })?;
        let callback = props.required_string("callback")?;
        props.check(is_plugin_name(callback), "callback", PLUGIN_NAME_EXPECTED)?;
        props.integer("maxAttempts", 1, MAX_ATTEMPTS)?;
        props.integer("retryDelayMs", 0, MAX_RETRY_DELAY_MS)?;
        props.bool("ordered")?;
        props.list("clients", "a client id string", Value::is_string)
    }
}
