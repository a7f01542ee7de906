//! One enabled `KafkaClient`'s live connection: a consumer task that feeds the client's
//! [`Consumer`] and stores each message's offset for commit only once it is settled and
//! durable, a producer for publishes, and a health task that keeps `isConnected` and
//! `lastError` true to what the brokers answer.

use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use switchyard_broker::{BoxFuture, Consumer, Delivery, Inbound, Incoming, Status, Tasks, Topics};
use switchyard_store::Store;
use tokio::sync::watch;

use crate::settings::Settings;

/// Received messages waiting for the worker; a full queue stops fetching, which is Kafka's
/// own backpressure.
const WORKER_QUEUE: usize = 64;
/// How often the brokers are asked whether they are there.
const HEALTH_EVERY: Duration = Duration::from_secs(2);
const METADATA_TIMEOUT: Duration = Duration::from_secs(3);
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// A running connection, as the manager holds it.
pub struct Connection {
    pub(crate) settings: Settings,
    /// Taken when the connection stops, so librdkafka's closing (leaving the group, committing,
    /// flushing) runs on a blocking thread rather than wherever the last reference drops.
    live: Mutex<Option<Live>>,
    tasks: Tasks,
}

/// The librdkafka handles of a running connection.
struct Live {
    shared: Arc<Shared>,
    producer: FutureProducer,
}

/// What the connection's tasks share.
struct Shared {
    id: String,
    consumer: StreamConsumer,
    /// The filters followed, as users write them.
    topics: Mutex<Topics>,
    /// Why a filter could not be followed, shown in `lastError`.
    problem: Mutex<Option<String>>,
    status: Mutex<Status>,
}

impl Connection {
    /// Starts consuming `filters` in the client's group and checking the brokers.
    pub fn start(
        id: &str,
        settings: Settings,
        store: Store,
        inbound: Arc<dyn Inbound>,
        filters: BTreeSet<String>,
    ) -> anyhow::Result<Connection> {
        let consumer: StreamConsumer =
            (settings.consumer().create()).context("librdkafka refused the consumer settings")?;
        let producer: FutureProducer =
            (settings.producer().create()).context("librdkafka refused the producer settings")?;
        let shared = Arc::new(Shared {
            id: id.to_owned(),
            consumer,
            topics: Mutex::new(Topics::new(filters)),
            problem: Mutex::default(),
            status: Mutex::new(Status::new(store.clone(), id)),
        });
        shared.resubscribe();
        let deliveries = Consumer::start(store.tenant(), id, inbound, WORKER_QUEUE);
        let tasks = Tasks::default();
        tasks.spawn(consume(shared.clone(), deliveries, tasks.stopped()));
        tasks.spawn(check_health(shared.clone(), tasks.stopped()));
        Ok(Connection {
            settings,
            live: Mutex::new(Some(Live { shared, producer })),
            tasks,
        })
    }

    /// Changes the followed topics, unless the connection has stopped.
    fn change_topics(&self, change: impl FnOnce(&mut Topics)) {
        let shared = (self.live.lock().as_ref()).map(|l| l.shared.clone());
        if let Some(shared) = shared {
            shared.change_topics(change);
        }
    }
}

impl Shared {
    /// Subscribes again only when the topics changed: each subscription makes the group
    /// rebalance, and the manager sets the same filters again every few seconds when several
    /// instances share the store, which would keep the group rebalancing and never consuming.
    fn change_topics(&self, change: impl FnOnce(&mut Topics)) {
        let changed = self.topics.lock().change(change);
        if changed {
            self.resubscribe();
        }
    }

    /// Subscribes the consumer to exactly the current topics (librdkafka replaces the set).
    fn resubscribe(&self) {
        // Held until subscribed, so concurrent changes subscribe in the order they were made.
        let topics = self.topics.lock();
        let wanted = topics.all();
        let mut names = BTreeSet::new();
        let mut problems = Vec::new();
        for filter in &wanted {
            match crate::topic::subscription(filter) {
                Ok(name) => drop(names.insert(name)),
                Err(e) => problems.push(format!("cannot follow topic filter `{filter}`: {}", e.0)),
            }
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let subscribed = if names.is_empty() {
            self.consumer.unsubscribe();
            Ok(())
        } else {
            self.consumer.subscribe(&names)
        };
        if let Err(e) = subscribed {
            problems.push(format!("cannot subscribe to {names:?}: {e}"));
        }
        for problem in &problems {
            tracing::warn!(client = %self.id, "{problem}");
        }
        *self.problem.lock() = (!problems.is_empty()).then(|| problems.join("; "));
    }

    fn report(&self, connected: bool, error: Option<String>) {
        self.status.lock().report(connected, error);
    }

    fn problem(&self) -> Option<String> {
        self.problem.lock().clone()
    }
}

/// Receives messages until stopped and hands them to the consumer, waiting while it is full.
async fn consume(
    shared: Arc<Shared>,
    deliveries: Consumer<KafkaDelivery>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let received = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            received = shared.consumer.recv() => received,
        };
        let delivery = match received {
            Ok(message) => KafkaDelivery::of(&shared, &message),
            Err(e) => {
                tracing::warn!(client = %shared.id, "Kafka consumer error: {e}");
                shared.report(false, Some(format!("Kafka: {e}")));
                continue;
            }
        };
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            pushed = deliveries.push(delivery) => if pushed.is_err() {
                break;
            },
        }
    }
    deliveries.stop();
}

/// Asks the brokers for metadata every few seconds and reports what happened.
async fn check_health(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let probe = shared.clone();
        let answer = tokio::task::spawn_blocking(move || {
            probe
                .consumer
                .fetch_metadata(None, METADATA_TIMEOUT)
                .map(drop)
        })
        .await;
        match answer {
            Ok(Ok(())) => shared.report(true, shared.problem()),
            Ok(Err(e)) => {
                shared.report(false, Some(format!("cannot reach the Kafka brokers: {e}")))
            }
            Err(e) => tracing::error!(client = %shared.id, "Kafka health check failed: {e}"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(HEALTH_EVERY) => {}
        }
    }
}

/// A received message and where it sits in its partition.
struct KafkaDelivery {
    incoming: Incoming,
    /// Weak, so a delivery still in flight never keeps a stopped consumer alive.
    shared: std::sync::Weak<Shared>,
    partition: i32,
    offset: i64,
}

impl KafkaDelivery {
    /// Copies the message out of librdkafka's buffer. Partition and offset go to the callback
    /// as the headers `kafka.partition` and `kafka.offset` (decimal text), after the message's
    /// own headers.
    fn of(shared: &Arc<Shared>, message: &rdkafka::message::BorrowedMessage<'_>) -> KafkaDelivery {
        let mut headers: Vec<(String, Vec<u8>)> = (message.headers().into_iter())
            .flat_map(|headers| headers.iter())
            .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
            .collect();
        headers.push((
            "kafka.partition".into(),
            message.partition().to_string().into_bytes(),
        ));
        headers.push((
            "kafka.offset".into(),
            message.offset().to_string().into_bytes(),
        ));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        KafkaDelivery {
            incoming: Incoming {
                client_id: shared.id.clone(),
                topic: message.topic().to_owned(),
                payload: message.payload().unwrap_or_default().to_vec(),
                key: message.key().map(<[u8]>::to_vec),
                headers,
                received_at_ms: now.as_millis() as u64,
                // Kafka keeps order per partition: so do the callbacks.
                lane: Some(format!("{}#{}", message.topic(), message.partition())),
                // The consumer sets the tenant.
                ..Incoming::default()
            },
            shared: Arc::downgrade(shared),
            partition: message.partition(),
            offset: message.offset(),
        }
    }
}

impl Delivery for KafkaDelivery {
    fn incoming(&self) -> Incoming {
        self.incoming.clone()
    }

    /// Stores the offset for the next commit. A partition taken away meanwhile refuses it, and
    /// a stopped consumer is gone; either way the message is read again, as at-least-once
    /// allows.
    fn acknowledge(self) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let Some(shared) = self.shared.upgrade() else {
                return;
            };
            let (topic, partition) = (&self.incoming.topic, self.partition);
            if let Err(e) = shared.consumer.store_offset(topic, partition, self.offset) {
                tracing::debug!(client = %shared.id, topic, partition, "offset not stored: {e}");
            }
        })
    }
}

impl switchyard_broker::Connection for Connection {
    type Settings = Settings;

    fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Stops consuming; offsets stored so far are committed as the consumer closes.
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.tasks.stop().await;
            let Some(live) = self.live.lock().take() else {
                return;
            };
            live.shared.consumer.unsubscribe();
            live.shared.report(false, None);
            // The consumer's drop polls until it has left its group.
            let _ = tokio::task::spawn_blocking(move || drop(live)).await;
        })
    }

    fn set_filters(&self, filters: BTreeSet<String>) -> BoxFuture<'_, anyhow::Result<()>> {
        self.change_topics(|topics| topics.set_filters(filters));
        Box::pin(async { Ok(()) })
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        let producer = (self.live.lock().as_ref()).map(|live| live.producer.clone());
        Box::pin(async move {
            let producer =
                producer.ok_or_else(|| anyhow::anyhow!("the Kafka client is stopping"))?;
            let record = FutureRecord::<(), _>::to(topic).payload(&payload);
            match producer.send(record, PUBLISH_TIMEOUT).await {
                Ok(_) => Ok(()),
                Err((error, _)) => Err(anyhow::anyhow!(
                    "publishing to Kafka topic `{topic}`: {error}"
                )),
            }
        })
    }

    fn subscribe<'a>(&'a self, filter: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        self.change_topics(|topics| topics.add(filter.to_owned()));
        Box::pin(async { Ok(()) })
    }

    fn unsubscribe<'a>(&'a self, filter: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        self.change_topics(|topics| topics.remove(filter));
        Box::pin(async { Ok(()) })
    }
}
