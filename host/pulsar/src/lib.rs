//! Pulsar for Switchyard: the connections of `PulsarClient` objects, through the `pulsar`
//! crate (patched to read payload frames without the optional checksum; see
//! `vendor/pulsar/SWITCHYARD.md`).
//!
//! [`Pulsar`] is the broker kind: what `PulsarClient` objects look like ([`PulsarKind`]), and
//! a [`PulsarBroker`] that plugs Pulsar into the shared connection manager
//! ([`switchyard_broker::Manager`]): enabling a client subscribes its `subscription` (of its
//! `subscriptionType`) to its subscribers' topics and publishes through the same connection;
//! disabling, editing or deleting it closes or restarts that. Every message goes through the
//! broker-neutral [`Consumer`](switchyard_broker::Consumer) and is acknowledged once every
//! callback has finished with it and what they wrote is on disk; a message Switchyard could
//! not settle is negatively acknowledged, so the broker delivers it again.

mod connection;
mod kind;
mod settings;
pub mod topic;

pub use connection::Connection;
pub use kind::{PULSAR_CLIENT, PulsarKind};
pub use settings::Settings;

use std::collections::BTreeSet;
use std::sync::Arc;
use switchyard_broker::{Broker, BrokerKind, Clients, Inbound, Manager, Wanted};
use switchyard_model::ClientKind;
use switchyard_store::{Object, Store};

/// Pulsar as a broker kind.
pub struct Pulsar;

impl BrokerKind for Pulsar {
    fn client_kind(&self) -> Arc<dyn ClientKind> {
        Arc::new(PulsarKind)
    }

    fn start(&self, store: Store, inbound: Arc<dyn Inbound>) -> Arc<dyn Clients> {
        Arc::new(Manager::new(store, inbound, PulsarBroker))
    }
}

/// `PulsarClient` connections through the `pulsar` crate.
pub struct PulsarBroker;

impl Broker for PulsarBroker {
    type Settings = Settings;
    type Connection = Connection;

    fn client_type(&self) -> &'static str {
        PULSAR_CLIENT
    }

    fn wanted(&self, _id: &str, object: &Object) -> Wanted<Settings> {
        settings::wanted(object)
    }

    /// Every subscription type but `Exclusive` lets several consumers in.
    fn shared(&self, settings: &Settings) -> bool {
        !matches!(settings.kind, pulsar::SubType::Exclusive)
    }

    fn connect(
        &self,
        store: &Store,
        id: &str,
        settings: Settings,
        inbound: Arc<dyn Inbound>,
        filters: BTreeSet<String>,
    ) -> anyhow::Result<Connection> {
        Ok(Connection::start(
            id,
            settings,
            store.clone(),
            inbound,
            filters,
        ))
    }
}
