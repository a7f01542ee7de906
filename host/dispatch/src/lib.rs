//! Routing: from a message that arrived on a client to the callbacks of the subscribers linked
//! to that client, and from the callbacks' effects back out through the brokers.
//!
//! Broker crates (MQTT now; Kafka and Pulsar later) implement [`Outbound`] for their client
//! type and register it in [`Brokers`]; they hand every received message to an [`Inbound`]
//! (the [`Dispatcher`]) and acknowledge it when that returns.

mod brokers;
mod dispatcher;

pub use brokers::{Brokers, ClientError, Outbound};
pub use dispatcher::Dispatcher;

use std::future::Future;
use std::pin::Pin;

/// A boxed future, for the object-safe broker traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A message as a broker crate received it.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub client_id: String,
    pub topic: String,
    pub payload: Vec<u8>,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub received_at_ms: u64,
}

/// The receiving side as broker crates see it: where messages go and which topics a client
/// must subscribe to. [`Dispatcher`] implements it; broker tests can use a recorder.
pub trait Inbound: Send + Sync + 'static {
    /// Topic filters of the subscribers linked to `client_id`, as the user wrote them
    /// (convert with `switchyard_topic::to_mqtt` before subscribing).
    fn filters_for(&self, client_id: &str) -> Vec<String>;
    /// Handles one message; resolves when every callback is done, so the broker crate can
    /// acknowledge the message then. Never fails: errors are logged and recorded.
    fn dispatch(&self, message: Incoming) -> BoxFuture<'_, ()>;
}
