//! Kafka for Switchyard: the connections of `KafkaClient` objects, through librdkafka.
//!
//! [`Kafka`] is the broker kind: what `KafkaClient` objects look like ([`KafkaKind`]), and a
//! [`KafkaBroker`] that plugs Kafka into the shared connection manager
//! ([`switchyard_broker::Manager`]): enabling a client starts a consumer in its `groupId` for
//! its subscribers' topics and a producer for publishes; disabling, editing or deleting it
//! stops or restarts them. Every message goes through the broker-neutral
//! [`Consumer`](switchyard_broker::Consumer), and its offset is stored for commit only once
//! every callback has finished with it and what they wrote is on disk, in order, so a crash
//! redelivers instead of losing.

mod connection;
mod kind;
mod settings;
pub mod topic;

pub use connection::Connection;
pub use kind::{KAFKA_CLIENT, KafkaKind};
pub use settings::Settings;

use std::collections::BTreeSet;
use std::sync::Arc;
use switchyard_broker::{Broker, BrokerKind, Clients, Inbound, Manager, Wanted};
use switchyard_model::ClientKind;
use switchyard_store::{Object, Store};

/// Kafka as a broker kind.
pub struct Kafka;

impl BrokerKind for Kafka {
    fn client_kind(&self) -> Arc<dyn ClientKind> {
        Arc::new(KafkaKind)
    }

    fn start(&self, store: Store, inbound: Arc<dyn Inbound>) -> Arc<dyn Clients> {
        Arc::new(Manager::new(store, inbound, KafkaBroker))
    }
}

/// `KafkaClient` connections through rdkafka.
pub struct KafkaBroker;

impl Broker for KafkaBroker {
    type Settings = Settings;
    type Connection = Connection;

    fn client_type(&self) -> &'static str {
        KAFKA_CLIENT
    }

    fn wanted(&self, _id: &str, object: &Object) -> Wanted<Settings> {
        settings::wanted(object)
    }

    /// A consumer group: Kafka splits the partitions between its members.
    fn shared(&self, _settings: &Settings) -> bool {
        true
    }

    fn connect(
        &self,
        store: &Store,
        id: &str,
        settings: Settings,
        inbound: Arc<dyn Inbound>,
        filters: BTreeSet<String>,
    ) -> anyhow::Result<Connection> {
        Connection::start(id, settings, store.clone(), inbound, filters)
    }
}
