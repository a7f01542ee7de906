//! Kafka for Switchyard: the connections of `KafkaClient` objects, through librdkafka.
//!
//! A [`KafkaBroker`] plugs Kafka into the shared connection manager
//! ([`switchyard_dispatch::Manager`]): enabling a client starts a consumer in its `groupId`
//! for its subscribers' topics and a producer for publishes; disabling, editing or deleting it
//! stops or restarts them. Every message goes through the broker-neutral
//! [`Consumer`](switchyard_dispatch::Consumer), and its offset is stored for commit only once
//! every callback has finished with it and what they wrote is on disk, in order, so a crash
//! redelivers instead of losing.

mod connection;
mod settings;

pub use connection::Connection;
pub use settings::Settings;

use std::collections::BTreeSet;
use std::sync::Arc;
use switchyard_dispatch::{Broker, Inbound, Manager, Wanted};
use switchyard_store::{Object, Store};

/// The connections of all `KafkaClient` objects.
pub type Kafka = Manager<KafkaBroker>;

/// `KafkaClient` connections through rdkafka.
pub struct KafkaBroker {
    store: Store,
}

impl KafkaBroker {
    /// The client type this broker kind serves.
    pub const CLIENT_TYPE: &'static str = "KafkaClient";
}

/// The manager for `KafkaClient` objects.
pub fn manager(store: Store, inbound: Arc<dyn Inbound>) -> Kafka {
    Manager::new(store.clone(), inbound, KafkaBroker { store })
}

impl Broker for KafkaBroker {
    type Settings = Settings;
    type Connection = Connection;

    fn client_type(&self) -> &'static str {
        Self::CLIENT_TYPE
    }

    fn wanted(&self, _id: &str, object: &Object) -> Wanted<Settings> {
        settings::wanted(object)
    }

    fn connect(
        &self,
        id: &str,
        settings: Settings,
        inbound: Arc<dyn Inbound>,
        filters: BTreeSet<String>,
    ) -> anyhow::Result<Connection> {
        Connection::start(id, settings, self.store.clone(), inbound, filters)
    }
}
