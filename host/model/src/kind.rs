//! Broker client kinds: everything the host needs to know about one broker's client objects,
//! described once by the broker crate that serves them and registered by the composition root.
//! The store validates client objects through them, the dispatcher routes and publishes with
//! them, and the API, the admin UI and the CLI list them.

use crate::Object;
use std::sync::Arc;

/// One kind of broker client (`MQTTClient`, `KafkaClient`, ...).
pub trait ClientKind: Send + Sync + 'static {
    /// The object type of its clients, e.g. `MQTTClient`.
    fn type_name(&self) -> &'static str;

    /// What users call the broker on the command line, e.g. `mqtt`.
    fn short_name(&self) -> &'static str;

    /// The property that says where its broker is (`mainBrokerURL`, `servers`).
    fn broker_property(&self) -> &'static str;

    /// A new client's properties for a broker address as a user types it (`mqtt://host:1883`,
    /// or `host:9092,host2:9092`): by default the text itself as [`ClientKind::broker_property`].
    fn broker_properties(&self, broker: &str) -> Object {
        Object::from_iter([(self.broker_property().to_owned(), broker.into())])
    }

    /// An example of a new client's properties, as the admin UI offers it.
    fn example(&self) -> serde_json::Value;

    /// Fills in documented defaults for properties the object lacks.
    fn apply_defaults(&self, object: &mut Object);

    /// Checks the user-writable properties of a complete object (after merging and defaults);
    /// the message names `Type.property`.
    fn validate(&self, object: &Object) -> Result<(), String>;

    /// Whether `property` is a secret: accepted on write, never read back. By default the
    /// secrets every broker's clients have ([`crate::schema::is_client_secret`]).
    fn is_secret(&self, property: &str) -> bool {
        crate::schema::is_client_secret(property)
    }

    /// Checks that its broker can take `topic` as a topic to publish to.
    fn check_topic(&self, topic: &str) -> Result<(), String>;

    /// Checks that its broker can follow a subscriber's topic filter.
    fn check_filter(&self, filter: &str) -> Result<(), String>;

    /// A subscriber's topic filter as the topics of this broker's messages are written, for
    /// matching (Pulsar's full topic names match the short ones its messages carry).
    fn route_filter(&self, filter: &str) -> String {
        filter.to_owned()
    }

    /// The size a message of `payload` bytes to `topic` has on the wire, the most its broker
    /// takes, and what the broker calls one (`MQTT packet`).
    fn message_size(&self, topic: &str, payload: usize) -> (usize, usize, &'static str);
}

/// The registered client kinds, in registration order. Cheap to clone.
#[derive(Clone, Default)]
pub struct Kinds(Arc<[Arc<dyn ClientKind>]>);

impl Kinds {
    pub fn new(kinds: Vec<Arc<dyn ClientKind>>) -> Kinds {
        Kinds(kinds.into())
    }

    /// The kind whose clients have type `type_name`.
    pub fn of(&self, type_name: &str) -> Option<&Arc<dyn ClientKind>> {
        self.0.iter().find(|kind| kind.type_name() == type_name)
    }

    /// The kind users call `short_name`.
    pub fn named(&self, short_name: &str) -> Option<&Arc<dyn ClientKind>> {
        self.0.iter().find(|kind| kind.short_name() == short_name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn ClientKind>> {
        self.0.iter()
    }

    /// Whether `type_name` is a type the host itself reads (clients, subscribers, failed
    /// messages), which plugins must not write.
    pub fn is_builtin(&self, type_name: &str) -> bool {
        matches!(type_name, crate::MESSAGE_SUBSCRIBER | crate::FAILED_MESSAGE)
            || self.of(type_name).is_some()
    }

    /// The client object types, in registration order.
    pub fn type_names(&self) -> Vec<&'static str> {
        self.0.iter().map(|kind| kind.type_name()).collect()
    }
}
