//! MQTT for Switchyard: the `MQTTClient` kind ([`Mqtt`]): what its objects look like
//! ([`MqttKind`]) and their connections ([`MqttClients`], the shared connection manager over
//! [`MqttBroker`]), which follow the store: enabling a client connects it, disabling or
//! deleting it disconnects it, and subscriber changes (un)subscribe topics live. A client of an
//! external broker connects through rumqttc; a client of the embedded broker
//! ([`switchyard_mqtt_broker`]) is an in-process session of it. Received messages go to an
//! [`Inbound`](switchyard_broker::Inbound) and are acknowledged once their outcome is durable.
//! Devices of the embedded broker authenticate as `MQTTDevice` objects ([`Devices`]).

mod adopt;
mod backlog;
mod connection;
mod devices;
mod embedded;
mod endpoint;
mod kind;
mod manager;
mod settings;
mod wire;

pub use devices::Devices;
pub use kind::{MQTT_CLIENT, MqttKind};
pub use manager::{MqttBroker, MqttClients};
pub use settings::MAX_PACKET;
pub use switchyard_mqtt_broker::{
    Access, AuthMode, Config as BrokerConfig, EmbeddedBroker, Listeners, Tls,
};

use std::sync::Arc;
use switchyard_broker::{BrokerKind, Clients, Inbound, Manager};
use switchyard_model::ClientKind;
use switchyard_store::Store;

/// MQTT as a broker kind: `MQTTClient` objects, connected through rumqttc to external brokers
/// or in-process to the embedded one.
pub struct Mqtt {
    /// The embedded broker, for `embedded` clients; `None` when it is off.
    pub embedded: Option<EmbeddedBroker>,
}

impl BrokerKind for Mqtt {
    fn client_kind(&self) -> Arc<dyn ClientKind> {
        Arc::new(MqttKind)
    }

    fn start(&self, store: Store, inbound: Arc<dyn Inbound>) -> Arc<dyn Clients> {
        let broker = MqttBroker::new(self.embedded.clone());
        Arc::new(Manager::new(store, inbound, broker))
    }
}

/// What went wrong in the MQTT part of the host.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("client `{0}` is not connected")]
    NotConnected(String),
    #[error("invalid topic `{0}`: a topic to publish to is not empty and has no wildcards")]
    InvalidTopic(String),
    #[error("the message is too large: {0} bytes, at most {1} fit")]
    PayloadTooLarge(usize, usize),
    #[error("invalid topic filter `{0}`: {1}")]
    InvalidFilter(String, String),
    #[error("cannot open the backlog file: {0}")]
    Backlog(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
