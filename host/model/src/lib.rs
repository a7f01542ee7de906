//! Switchyard's model of itself, below every other crate: the names of the built-in object
//! types, typed views of the ones the host reads on the message path, the [`ClientKind`]s that
//! broker crates register (what their client objects look like and which topics and messages
//! their brokers take), and [`Report`], which shows an error with everything that caused it.
//!
//! Built-in types are stored as JSON objects like any other; this crate is where their names
//! and shapes are written down once, so the store, the dispatcher, the API, the admin UI and
//! the CLI agree on them.

mod device;
mod hook;
mod kind;
mod report;
pub mod schema;
mod subscriber;

pub use device::{DEVICE_STATUS, Device};
pub use hook::{LifecycleHook, OPERATIONS, When};
pub use kind::{ClientKind, Kinds};
pub use report::Report;
pub use subscriber::Subscriber;

/// A stored object: its properties, including the reserved `id`, `type`, `createdAt`,
/// `updatedAt` and `version`.
pub type Object = serde_json::Map<String, serde_json::Value>;

/// The tenant that holds whatever is not said to be another's: everything an installation had
/// before tenants, and what the operator does without naming a tenant.
pub const DEFAULT_TENANT: &str = "default";

/// Whether `name` may name a tenant: 1 to 64 of `a-z`, `0-9` and `-`, starting with a letter
/// (it appears in paths, headers and metric labels).
pub fn is_tenant_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The type of subscriber objects: a topic filter, a callback, the clients it listens on.
pub const MESSAGE_SUBSCRIBER: &str = "MessageSubscriber";
/// The type of a device's credentials and topics on the embedded broker.
pub const MQTT_DEVICE: &str = "MQTTDevice";
/// The type that attaches a tenant's lifecycle-hooks plugin to operations on its objects.
pub const LIFECYCLE_HOOK: &str = "LifecycleHook";
/// The type of the records of messages whose callback gave up.
pub const FAILED_MESSAGE: &str = "FailedMessage";

/// Host-maintained properties of every client object, with their values before connecting.
pub const CLIENT_STATUS: [(&str, serde_json::Value); 2] = [
    ("isConnected", serde_json::Value::Bool(false)),
    ("lastError", serde_json::Value::Null),
];

/// The `type` of an object (empty if it has none).
pub fn type_of(object: &Object) -> &str {
    text(object, "type").unwrap_or_default()
}

/// The `id` of an object (empty if it has none).
pub fn id_of(object: &Object) -> &str {
    text(object, "id").unwrap_or_default()
}

/// A string property.
pub fn text<'a>(object: &'a Object, property: &str) -> Option<&'a str> {
    object.get(property).and_then(serde_json::Value::as_str)
}
