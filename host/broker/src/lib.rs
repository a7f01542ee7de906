//! The broker-neutral side of broker clients, below the runtime and every broker crate: what a
//! broker crate implements ([`BrokerKind`], [`Broker`], [`Connection`], [`Delivery`]) and the
//! machinery they share (the connection [`Manager`] that follows the store, the [`Consumer`]
//! that bounds what is in flight and acknowledges only what is durable, [`Brokers`] that sends
//! through any client).
//!
//! A message a broker crate receives becomes an [`Incoming`] and goes to an [`Inbound`] (the
//! dispatcher), which resolves to an [`Outcome`]: acknowledged once the callbacks' writes (or
//! the record of their failure) are on disk, with one flush for every message that finished
//! meanwhile, and kept otherwise.

mod brokers;
mod clients;
mod consumer;
mod manager;
mod tasks;

pub use brokers::{Brokers, ClientError, Outbound};
pub use clients::{Client, resolve};
pub use consumer::{Consumer, Delivery};
pub use manager::{Broker, Connection, Manager, NotConnected, Status, Topics, Wanted};
pub use tasks::Tasks;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use switchyard_model::ClientKind;
use switchyard_store::Store;

/// A boxed future, for the object-safe broker traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A broker kind as the composition root registers it: the description of its client objects,
/// and how to run the connections of those objects.
pub trait BrokerKind: Send + Sync + 'static {
    /// What its client objects look like and what its broker takes.
    fn client_kind(&self) -> Arc<dyn ClientKind>;
    /// Starts following the store's client objects of this kind, delivering what they receive
    /// to `inbound`.
    fn start(&self, store: Store, inbound: Arc<dyn Inbound>) -> Arc<dyn Clients>;
}

/// The running clients of one kind: sends through them, and runs and stops them.
pub trait Clients: Outbound {
    /// Connects every enabled client, then follows the store until [`Clients::shutdown`].
    fn run(self: Arc<Self>) -> BoxFuture<'static, ()>;
    /// Disconnects every client cleanly.
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}

/// A message as a broker crate received it.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The tenant of the client it arrived on (the consumer fills it in).
    pub tenant: String,
    pub client_id: String,
    pub topic: String,
    pub payload: Vec<u8>,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub received_at_ms: u64,
    /// What order is kept within, besides the subscriber: `None` for the topic (MQTT), the
    /// partition for Kafka. Messages of different lanes may run at the same time.
    pub lane: Option<String>,
    /// Who published it, where the broker vouches for it (the embedded broker, for its
    /// devices); `None` elsewhere.
    pub sender: Option<Sender>,
}

/// The device session that published a message, as the embedded broker knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub client_id: String,
    /// The `MQTTDevice` object it signed in as, if it did.
    pub device: Option<String>,
}

/// An empty message of the default tenant (the consumer sets the tenant of what it receives).
impl Default for Incoming {
    fn default() -> Incoming {
        Incoming {
            tenant: switchyard_model::DEFAULT_TENANT.to_owned(),
            client_id: String::new(),
            topic: String::new(),
            payload: Vec::new(),
            key: None,
            headers: Vec::new(),
            received_at_ms: 0,
            lane: None,
            sender: None,
        }
    }
}

/// What became of a dispatched message; brokers acknowledge, commit or negative-acknowledge on
/// it.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Every matching callback succeeded (or none matched), and their writes are committed.
    Done,
    /// Some callbacks failed; each failure is committed, queued for a retry or recorded as a
    /// `FailedMessage`, and so are the others' writes. Once durable, the message is safe here.
    Failed { callbacks: usize },
    /// Nothing durable could be made of the message: it must not be acknowledged, and must be
    /// dispatched again later.
    Retry(Unsettled),
}

/// Why a message could not be settled.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unsettled {
    /// The store failed (reading the routes, or keeping a failure).
    #[error("the store failed")]
    Store(#[from] switchyard_store::Error),
    /// A task working on the message ended without an outcome.
    #[error("a task working on the message stopped: {0}")]
    Stopped(String),
}

/// The receiving side as broker crates see it: where messages go and which topics a client
/// must subscribe to. The dispatcher implements it; broker tests can use a recorder.
pub trait Inbound: Send + Sync + 'static {
    /// Topic filters of the subscribers linked to `tenant`'s client `client_id`, as the user
    /// wrote them (convert with `switchyard_topic::to_mqtt` before subscribing).
    fn filters_for(&self, tenant: &str, client_id: &str) -> Vec<String>;
    /// Starts handling one message and resolves when every callback is done and what it left
    /// is committed, saying what became of the message. The message takes its place in each
    /// subscriber's order when this is called (not when the future is polled), so call it in
    /// arrival order. Not yet durable: see [`Inbound::durable`].
    fn dispatch(self: Arc<Self>, message: Incoming) -> BoxFuture<'static, Outcome>;
    /// Resolves once everything dispatched before the call is on disk (one flush for all).
    fn durable(&self) -> BoxFuture<'_, Result<(), switchyard_store::Error>>;
}
