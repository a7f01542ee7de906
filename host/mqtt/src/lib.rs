//! MQTT for Switchyard: the embedded broker ([`EmbeddedBroker`]) and the connections of
//! `MQTTClient` objects ([`Mqtt`], the shared connection manager over [`MqttBroker`]), which
//! follow the store: enabling a client connects it, disabling or deleting it disconnects it,
//! and subscriber changes (un)subscribe topics live. Received messages go to an
//! [`Inbound`](switchyard_dispatch::Inbound) and are acknowledged once their outcome is
//! durable; [`Mqtt`] is the [`Outbound`](switchyard_dispatch::Outbound) for `MQTTClient`s.

mod backlog;
mod broker;
mod connection;
mod endpoint;
mod manager;
mod settings;

pub use broker::EmbeddedBroker;
pub use manager::{Mqtt, MqttBroker, manager};

use std::net::SocketAddr;
use std::time::Duration;

/// What went wrong in the MQTT part of the host.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr} for the embedded MQTT broker's {listener} listener: {source}")]
    Listen {
        addr: SocketAddr,
        listener: &'static str,
        source: std::io::Error,
    },
    #[error("cannot start the embedded MQTT broker's thread: {0}")]
    BrokerThread(std::io::Error),
    #[error("the embedded MQTT broker stopped before listening on {0}; see the log above")]
    BrokerStopped(SocketAddr),
    #[error("the embedded MQTT broker did not listen on {0} within {1:?}")]
    BrokerTimeout(SocketAddr, Duration),
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
