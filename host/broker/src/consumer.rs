//! The broker-neutral receiving side: a bounded queue between a broker connection and a
//! bounded window of messages in flight, and an acknowledger that settles messages once what
//! their callbacks wrote is on disk.
//!
//! Every broker crate feeds its deliveries into a [`Consumer`] instead of writing its own
//! worker, so MQTT, Kafka and Pulsar share one backpressure and acknowledgement policy: the
//! queue and the window of messages in flight are bounded (a full queue makes the connection
//! wait, which slows consumption instead of growing memory), messages are dispatched in
//! arrival order (the dispatcher keeps order per subscriber and topic from there, so one slow
//! subscriber or topic does not hold up the others' callbacks), and a message is acknowledged
//! only when its [`Outcome`] is settled and durable, in delivery order. A message whose
//! outcome is [`Outcome::Retry`] (the store failed) is, after a backoff, negatively
//! acknowledged where the broker redelivers (Pulsar) or dispatched again here, keeping its
//! slot in the window (MQTT, Kafka): it is never acknowledged unsettled and never skipped.
//!
//! Group commit: dispatching does not wait for the disk. Settled messages queue for the
//! acknowledger, which takes all that are waiting, makes them durable with one flush
//! ([`Inbound::durable`]), and acknowledges them in order, while the next messages are
//! dispatched.

use crate::{BoxFuture, Inbound, Incoming, Outcome};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use switchyard_model::Report;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// Messages dispatched and not yet acknowledged, per consumer: room for the callbacks of later
/// messages to go on while an earlier one is slow (up to its deadline).
const WINDOW_MESSAGES: usize = 256;
/// Payload bytes in that window, so large messages cannot multiply it.
const WINDOW_BYTES: usize = 16 << 20;

/// A received message together with the way to settle it with its broker.
pub trait Delivery: Send + 'static {
    /// The message as the dispatcher sees it.
    fn incoming(&self) -> Incoming;
    /// Tells the broker the message is safe here (MQTT PUBACK, Kafka offset, Pulsar ack).
    /// Called at most once, in delivery order, and only for a settled, durable outcome.
    fn acknowledge(self) -> BoxFuture<'static, ()>;
    /// Hands a message that could not be settled back to the broker to deliver again later
    /// (Pulsar's negative acknowledgement, which lets another consumer of a shared
    /// subscription take it), freeing its place here. A broker that cannot gives it back, and
    /// the consumer dispatches it again itself.
    fn redeliver(self) -> Result<BoxFuture<'static, ()>, Self>
    where
        Self: Sized,
    {
        Err(self)
    }
}

/// The queue side of one client's consumer. Dropping it (or stopping) ends the worker.
pub struct Consumer<D> {
    queue: mpsc::Sender<D>,
    stop: watch::Sender<bool>,
}

impl<D: Delivery> Consumer<D> {
    /// Starts the worker for `tenant`'s client `client` with a queue of `capacity` deliveries,
    /// and its acknowledger with as many settled deliveries waiting for a flush.
    pub fn start(
        tenant: &str,
        client: &str,
        inbound: Arc<dyn Inbound>,
        capacity: usize,
    ) -> Consumer<D> {
        let (queue, deliveries) = mpsc::channel(capacity);
        let (settled, to_acknowledge) = mpsc::channel(capacity);
        let (stop, stopped) = watch::channel(false);
        let source = Source {
            tenant: tenant.to_owned(),
            client: client.to_owned(),
        };
        let worker = work(
            source,
            inbound.clone(),
            deliveries,
            settled,
            stopped.clone(),
        );
        tokio::spawn(worker);
        let acknowledger = acknowledge(client.to_owned(), inbound, to_acknowledge, stopped);
        tokio::spawn(acknowledger);
        Consumer { queue, stop }
    }

    /// Queues a delivery if there is room; gives it back if the queue is full (or the worker
    /// has stopped).
    pub fn try_push(&self, delivery: D) -> Result<(), D> {
        self.queue.try_send(delivery).map_err(|e| match e {
            mpsc::error::TrySendError::Full(d) | mpsc::error::TrySendError::Closed(d) => d,
        })
    }

    /// Queues a delivery, waiting for room: for brokers that keep what is not fetched yet
    /// (Kafka, Pulsar), waiting here is the backpressure. Gives it back if the worker stopped.
    pub async fn push(&self, delivery: D) -> Result<(), D> {
        self.queue.send(delivery).await.map_err(|e| e.0)
    }

    /// Stops the worker; queued and unsettled deliveries are dropped unacknowledged, so the
    /// broker delivers them again.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

impl<D> Drop for Consumer<D> {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Where a consumer's deliveries come from.
#[derive(Clone)]
struct Source {
    tenant: String,
    client: String,
}

impl Source {
    /// A delivery's message, in its client's tenant.
    fn incoming<D: Delivery>(&self, delivery: &D) -> Incoming {
        let mut incoming = delivery.incoming();
        incoming.tenant.clone_from(&self.tenant);
        incoming
    }
}

async fn work<D: Delivery>(
    source: Source,
    inbound: Arc<dyn Inbound>,
    mut deliveries: mpsc::Receiver<D>,
    settled: mpsc::Sender<D>,
    mut stop: watch::Receiver<bool>,
) {
    // Oldest first: settled deliveries leave from the front, so acknowledgements keep the
    // delivery order (rumqttd drops a client that acknowledges out of order; Kafka commits
    // positions) while the callbacks of later messages go on.
    let mut in_flight: VecDeque<(JoinHandle<Option<D>>, usize)> = VecDeque::new();
    let mut bytes = 0;
    let labels = [
        ("tenant", source.tenant.clone()),
        ("client", source.client.clone()),
    ];
    let received = metrics::counter!("switchyard_messages_received_total", &labels);
    // Received and not yet settled: queued here, or dispatched and in the window.
    let depth = metrics::gauge!("switchyard_queue_depth", &labels);
    loop {
        depth.set((deliveries.len() + in_flight.len()) as f64);
        let room = in_flight.len() < WINDOW_MESSAGES && bytes < WINDOW_BYTES;
        let oldest = async {
            match in_flight.front_mut() {
                Some((run, _)) => run.await,
                None => std::future::pending().await,
            }
        };
        let done = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return,
            done = oldest => done,
            delivery = deliveries.recv(), if room => {
                let Some(delivery) = delivery else { return };
                received.increment(1);
                let incoming = source.incoming(&delivery);
                let size = incoming.payload.len();
                // Called here, in arrival order: that is what keeps the order per lane.
                let run = inbound.clone().dispatch(incoming);
                let run = tokio::spawn(settle(source.clone(), inbound.clone(), delivery, run));
                in_flight.push_back((run, size));
                bytes += size;
                continue;
            }
        };
        let (_, size) = in_flight.pop_front().expect("the oldest just finished");
        bytes -= size;
        match done {
            Ok(Some(delivery)) => {
                if settled.send(delivery).await.is_err() {
                    return;
                }
            }
            // Handed back to the broker.
            Ok(None) => {}
            // Dropped unacknowledged: the broker delivers it again after a reconnect.
            Err(e) => tracing::error!(client = %source.client, "dispatch failed: {e}"),
        }
    }
}

/// Waits for a delivery's outcome and gives it back settled; while the store cannot settle
/// it, waits a backoff (so a failing store is not hammered, whoever redelivers) and hands it
/// back to the broker, or dispatches it again where the broker cannot take it back.
async fn settle<D: Delivery>(
    source: Source,
    inbound: Arc<dyn Inbound>,
    mut delivery: D,
    mut run: BoxFuture<'static, Outcome>,
) -> Option<D> {
    let mut backoff = RETRY_MIN;
    loop {
        let Outcome::Retry(reason) = run.await else {
            return Some(delivery);
        };
        let reason = Report(&reason).to_string();
        let client = &source.client;
        tracing::warn!(client = %client, "message not settled, retrying in {backoff:?}: {reason}");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RETRY_MAX);
        delivery = match delivery.redeliver() {
            Ok(handed_back) => {
                handed_back.await;
                return None;
            }
            Err(delivery) => delivery,
        };
        run = inbound.clone().dispatch(source.incoming(&delivery));
    }
}

/// Acknowledges settled deliveries in order, a batch per flush.
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
            let reason = Report(&reason).to_string();
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
