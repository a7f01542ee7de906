//! Routing: from a message that arrived on a client to the callbacks of the subscribers linked
//! to that client, and from the callbacks' effects back out through the brokers.
//!
//! Broker crates (MQTT now; Kafka and Pulsar later) implement [`Outbound`] for their client
//! type and register it in [`Brokers`]. What they receive goes through a [`Consumer`]: a
//! bounded queue and a bounded window of messages in flight, each handed to an [`Inbound`]
//! (the [`Dispatcher`], which keeps order per subscriber and topic) and settled with the
//! broker on its [`Outcome`]: acknowledged once the callbacks' writes (or the record of their
//! failure) are on disk, with one flush for every message that finished meanwhile, and kept
//! otherwise.

mod brokers;
mod consumer;
mod dispatcher;
mod failures;
mod lanes;
mod manager;
mod record;
mod tasks;

pub use brokers::{Brokers, ClientError, Outbound};
pub use consumer::{Consumer, Delivery};
pub use dispatcher::{Dispatcher, ReplayError, Retention};
pub use manager::{Broker, Connection, Manager, NotConnected, Status, Topics, Wanted};
pub use tasks::Tasks;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

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
    /// What order is kept within, besides the subscriber: `None` for the topic (MQTT), the
    /// partition for Kafka. Messages of different lanes may run at the same time.
    pub lane: Option<String>,
}

/// What became of a dispatched message; brokers acknowledge, commit or negative-acknowledge on
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every matching callback succeeded (or none matched), and their writes are committed.
    Done,
    /// Some callbacks failed; each failure is committed, queued for a retry or recorded as a
    /// `FailedMessage`, and so are the others' writes. Once durable, the message is safe here.
    Failed { callbacks: usize },
    /// Nothing durable could be made of the message (the store failed): it must not be
    /// acknowledged, and must be dispatched again later.
    Retry(String),
}

/// The receiving side as broker crates see it: where messages go and which topics a client
/// must subscribe to. [`Dispatcher`] implements it; broker tests can use a recorder.
pub trait Inbound: Send + Sync + 'static {
    /// Topic filters of the subscribers linked to `client_id`, as the user wrote them
    /// (convert with `switchyard_topic::to_mqtt` before subscribing).
    fn filters_for(&self, client_id: &str) -> Vec<String>;
    /// Starts handling one message and resolves when every callback is done and what it left
    /// is committed, saying what became of the message. The message takes its place in each
    /// subscriber's order when this is called (not when the future is polled), so call it in
    /// arrival order. Not yet durable: see [`Inbound::durable`].
    fn dispatch(self: Arc<Self>, message: Incoming) -> BoxFuture<'static, Outcome>;
    /// Resolves once everything dispatched before the call is on disk (one flush for all).
    fn durable(&self) -> BoxFuture<'_, Result<(), String>>;
}
