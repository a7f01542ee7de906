//! Pulsar for Switchyard: the connections of `PulsarClient` objects, through the `pulsar`
//! crate (patched to read payload frames without the optional checksum; see
//! `vendor/pulsar/SWITCHYARD.md`).
//!
//! A [`PulsarBroker`] plugs Pulsar into the shared connection manager
//! ([`switchyard_dispatch::Manager`]): enabling a client subscribes its `subscription` (of its
//! `subscriptionType`) to its subscribers' topics and publishes through the same connection;
//! disabling, editing or deleting it closes or restarts that. Every message goes through the
//! broker-neutral [`Consumer`](switchyard_dispatch::Consumer) and is acknowledged once every
//! callback has finished with it and what they wrote is on disk; a message Switchyard could
//! not settle is negatively acknowledged, so the broker delivers it again.

mod connection;
mod settings;

pub use connection::Connection;
pub use settings::Settings;

use std::collections::BTreeSet;
use std::sync::Arc;
use switchyard_dispatch::{Broker, Inbound, Manager, Wanted};
use switchyard_store::{Object, Store};

/// The connections of all `PulsarClient` objects.
pub type Pulsar = Manager<PulsarBroker>;

/// `PulsarClient` connections through the `pulsar` crate.
pub struct PulsarBroker {
    store: Store,
}

impl PulsarBroker {
    /// The client type this broker kind serves.
    pub const CLIENT_TYPE: &'static str = "PulsarClient";
}

/// The manager for `PulsarClient` objects.
pub fn manager(store: Store, inbound: Arc<dyn Inbound>) -> Pulsar {
    Manager::new(store.clone(), inbound, PulsarBroker { store })
}

impl Broker for PulsarBroker {
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
        Ok(Connection::start(
            id,
            settings,
            self.store.clone(),
            inbound,
            filters,
        ))
    }
}
