//! Routing: from a message that arrived on a client to the callbacks of the subscribers linked
//! to that client, and from the callbacks' effects back out through the brokers.
//!
//! Broker crates deliver what they receive through the broker-neutral consumer
//! (`switchyard-broker`) to the [`Dispatcher`], its [`Inbound`](switchyard_broker::Inbound):
//! it keeps order per subscriber and topic (or Kafka partition), runs each subscriber's
//! callback ([`Callbacks`]: a plugin in the sandbox, or a native callback), commits what it
//! wrote with group commit, sends what it published, and keeps each failure (a durable retry
//! queue, then a `FailedMessage`), so the consumer can acknowledge the message once that is
//! on disk. Everything about a message happens in the tenant of the client it arrived on.

mod callbacks;
mod dispatcher;
mod failures;
mod lanes;
mod record;
mod throttle;

pub use callbacks::{Callbacks, NativeCallback};
pub use dispatcher::{CallbackError, Dispatcher, ReplayError, Retention};
