//! The broker-neutral receiving side: a bounded queue between a broker connection and an
//! ordered worker that dispatches each message, and an acknowledger that settles messages once
//! what their callbacks wrote is on disk.
//!
//! Every broker crate feeds its deliveries into a [`Consumer`] instead of writing its own
//! worker, so MQTT, Kafka and Pulsar share one backpressure and acknowledgement policy: the
//! queues are bounded (a full queue makes the connection wait, which slows consumption instead
//! of growing memory), messages are dispatched one after another (order is kept), and a
//! message is acknowledged only when its [`Outcome`] is settled and durable. A message whose
//! outcome is [`Outcome::Retry`] (the store failed) is dispatched again, in place, after a
//! backoff: it is never acknowledged unsettled and never skipped.
//!
//! Group commit: the worker does not wait for the disk. Dispatched messages queue for the
//! acknowledger, which takes all that are waiting, makes them durable with one flush
//! ([`Inbound::durable`]), and acknowledges them in order, while the worker goes on with the
//! next messages.

use crate::{BoxFuture, Inbound, Incoming, Outcome};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// A received message together with the way to settle it with its broker.
pub trait Delivery: Send + 'static {
    /// The message as the dispatcher sees it.
    fn incoming(&self) -> Incoming;
    /// Tells the broker the message is safe here (MQTT PUBACK, Kafka offset, Pulsar ack).
    /// Called at most once, in delivery order, and only for a settled outcome.
    fn acknowledge(self) -> BoxFuture<'static, ()>;
}

/// The queue side of one client's consumer. Dropping it (or stopping) ends the worker.
pub struct Consumer<D> {
    queue: mpsc::Sender<D>,
    stop: watch::Sender<bool>,
}

impl<D: Delivery> Consumer<D> {
    /// Starts the ordered worker for client `client` with a queue of `capacity` deliveries,
    /// and its acknowledger with as many dispatched deliveries waiting for a flush.
    pub fn start(client: &str, inbound: Arc<dyn Inbound>, capacity: usize) -> Consumer<D> {
        let (queue, deliveries) = mpsc::channel(capacity);
        let (dispatched, settled) = mpsc::channel(capacity);
        let (stop, stopped) = watch::channel(false);
        let worker = work(
            client.to_owned(),
            inbound.clone(),
            deliveries,
            dispatched,
            stopped.clone(),
        );
        tokio::spawn(worker);
        tokio::spawn(acknowledge(client.to_owned(), inbound, settled, stopped));
        Consumer { queue, stop }
    }

    /// Queues a delivery if there is room; gives it back if the queue is full (or the worker
    /// has stopped).
    pub fn try_push(&self, delivery: D) -> Result<(), D> {
        self.queue.try_send(delivery).map_err(|e| match e {
            mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d) => d,
        })
    }

    /// Stops the worker after the callback running now; queued deliveries are dropped
    /// unacknowledged, so the broker delivers them again.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

impl<D> Drop for Consumer<D> {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn work<D: Delivery>(
    client: String,
    inbound: Arc<dyn Inbound>,
    mut deliveries: mpsc::Receiver<D>,
    dispatched: mpsc::Sender<D>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let delivery = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            delivery = deliveries.recv() => match delivery {
                Some(delivery) => delivery,
                None => return,
            },
        };
        let mut backoff = RETRY_MIN;
        loop {
            match dispatch(&inbound, delivery.incoming()).await {
                Ok(Outcome::Retry(reason)) => tracing::warn!(
                    client = %client,
                    "message not settled, dispatching it again in {backoff:?}: {reason}"
                ),
                Ok(_) => break,
                Err(panic) => {
                    // Delivered again, it would only panic again: log it and move on.
                    tracing::error!(client = %client, "dispatch panicked: {panic}");
                    break;
                }
            }
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(RETRY_MAX);
        }
        if dispatched.send(delivery).await.is_err() {
            return;
        }
    }
}

/// Acknowledges dispatched deliveries in order, a batch per flush.
async fn acknowledge<D: Delivery>(
    client: String,
    inbound: Arc<dyn Inbound>,
    mut settled: mpsc::Receiver<D>,
    mut stop: watch::Receiver<bool>,
) {
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            received = settled.recv_many(&mut batch, usize::MAX) => if received == 0 {
                return;
            },
        }
        let mut backoff = RETRY_MIN;
        while let Err(reason) = inbound.durable().await {
            // What was committed stays committed; it is only not known to be on disk yet.
            tracing::error!(client = %client, "cannot flush, acknowledging nothing: {reason}");
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(RETRY_MAX);
        }
        for delivery in batch.drain(..) {
            delivery.acknowledge().await;
        }
    }
}

/// Dispatches in a task of its own, so a panicking callback path cannot take the client down.
async fn dispatch(
    inbound: &Arc<dyn Inbound>,
    message: Incoming,
) -> Result<Outcome, tokio::task::JoinError> {
    let inbound = inbound.clone();
    tokio::spawn(async move { inbound.dispatch(message).await }).await
}
