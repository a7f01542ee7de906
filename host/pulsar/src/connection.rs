//! One enabled `PulsarClient`'s live connection: a task that connects, subscribes the client's
//! subscription to its subscribers' topics, feeds what arrives into the client's
//! [`Consumer`] and acknowledges each message once it is settled and durable (or negatively
//! acknowledges one Switchyard could not settle, for the broker to deliver again); and a health
//! task that keeps `isConnected` and `lastError` true to what the broker answers.
//!
//! Whatever goes wrong (the broker is down, refuses the subscription, or the consumer's stream
//! ends), the connection reports it and starts over after a backoff, so it recovers by itself.

use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::topic::{Subscription, short_name};
use anyhow::Context as _;
use futures::StreamExt as _;
use futures::future::OptionFuture;
use pulsar::consumer::Message;
use pulsar::proto::MessageIdData;
use pulsar::proto::command_get_topics_of_namespace::Mode;
use pulsar::{
    Authentication, ConnectionRetryOptions, ConsumerOptions, OperationRetryOptions, Pulsar,
    TokioExecutor, consumer::InitialPosition,
};
use switchyard_broker::{BoxFuture, Consumer, Delivery, Inbound, Incoming, Status, Tasks, Topics};
use switchyard_store::Store;
use tokio::sync::{mpsc, watch};

use crate::settings::Settings;

/// Received messages waiting for the worker; a full queue stops receiving, and the broker
/// holds the rest (its flow control).
const WORKER_QUEUE: usize = 64;
/// Acknowledgements on their way to the consumer task. Larger than the messages a client can
/// hold (queue, window, acknowledger), so sending one never waits for long.
const SETTLE_QUEUE: usize = 1024;
const HEALTH_EVERY: Duration = Duration::from_secs(2);
/// How long the broker has to answer a health probe or a close.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How often a wildcard subscription looks for new topics in its namespace.
const LISTING_REFRESH: Duration = Duration::from_secs(5);
const LISTING_RETRY: Duration = Duration::from_secs(60);

type Client = Pulsar<TokioExecutor>;
type PulsarConsumer = pulsar::Consumer<Vec<u8>, TokioExecutor>;

/// A running connection, as the manager holds it.
pub struct Connection {
    settings: Settings,
    shared: Arc<Shared>,
    tasks: Tasks,
}

/// What the connection's tasks share.
struct Shared {
    id: String,
    settings: Settings,
    /// The filters followed, as users write them; a change makes the consumer start over.
    topics: Mutex<Topics>,
    topics_changed: watch::Sender<()>,
    /// The connected client, for publishing and health probes.
    client: Mutex<Option<Client>>,
    /// Why some filters cannot be followed, shown in `lastError` while connected.
    problem: Mutex<Option<String>>,
    status: Mutex<Status>,
}

/// What a delivery asks of the consumer that received it.
struct Settle {
    /// Which consumer received the message: a later one cannot acknowledge it (the broker
    /// delivers it again since its consumer closed).
    generation: u64,
    topic: String,
    id: MessageIdData,
    ack: bool,
}

/// Why a consumer stopped consuming.
enum Ended {
    Stopped,
    TopicsChanged,
    Broken(String),
}

impl Connection {
    /// Starts connecting, consuming `filters`, and checking the broker.
    pub fn start(
        id: &str,
        settings: Settings,
        store: Store,
        inbound: Arc<dyn Inbound>,
        filters: BTreeSet<String>,
    ) -> Connection {
        let shared = Arc::new(Shared {
            id: id.to_owned(),
            settings: settings.clone(),
            topics: Mutex::new(Topics::new(filters)),
            topics_changed: watch::Sender::new(()),
            client: Mutex::default(),
            problem: Mutex::default(),
            status: Mutex::new(Status::new(store.clone(), id)),
        });
        let deliveries = Consumer::start(store.tenant(), id, inbound, WORKER_QUEUE);
        let tasks = Tasks::default();
        tasks.spawn(run(shared.clone(), deliveries, tasks.stopped()));
        tasks.spawn(check_health(shared.clone(), tasks.stopped()));
        Connection {
            settings,
            shared,
            tasks,
        }
    }
}

impl Shared {
    /// Changes the followed topics; the consumer starts over only if what it follows changed.
    fn change_topics(&self, change: impl FnOnce(&mut Topics)) {
        if self.topics.lock().change(change) {
            self.topics_changed.send_replace(());
        }
    }

    fn report(&self, connected: bool, error: Option<String>) {
        (self.status.lock()).report(connected, error);
    }

    fn problem(&self) -> Option<String> {
        self.problem.lock().clone()
    }

    fn client(&self) -> Option<Client> {
        self.client.lock().clone()
    }

    /// Connects to the first server that answers.
    async fn connect(&self) -> anyhow::Result<Client> {
        let mut failures = Vec::new();
        for url in &self.settings.servers {
            let mut builder = Pulsar::builder(url, TokioExecutor)
                // Few retries inside the crate: this connection retries on its own and reports
                // each failure, instead of going quiet for a minute.
                .with_connection_retry_options(ConnectionRetryOptions {
                    max_retries: 2,
                    connection_timeout: ANSWER_TIMEOUT,
                    keep_alive: HEALTH_EVERY,
                    ..ConnectionRetryOptions::default()
                })
                .with_operation_retry_options(OperationRetryOptions {
                    operation_timeout: Duration::from_secs(10),
                    max_retries: Some(2),
                    ..OperationRetryOptions::default()
                });
            if let Some(token) = &self.settings.token {
                builder = builder.with_auth(Authentication {
                    name: "token".into(),
                    data: token.clone().into_bytes(),
                });
            }
            match builder.build().await {
                Ok(client) => return Ok(client),
                Err(e) => failures.push(format!("{url}: {e}")),
            }
        }
        anyhow::bail!("cannot connect to Pulsar ({})", failures.join("; "))
    }

    /// The full names of the topics the current filters ask for, wildcards resolved by
    /// listing their namespaces (a namespace the broker does not list is reported as a
    /// problem, and the other topics are followed), and whether any filter is a wildcard.
    async fn wanted_topics(&self, client: &Client) -> (BTreeSet<String>, bool) {
        let filters = self.topics.lock().all();
        let mut topics = BTreeSet::new();
        let mut wildcards = false;
        let mut problems = Vec::new();
        for filter in &filters {
            match crate::topic::subscription(filter) {
                Ok(Subscription::Topic(name)) => {
                    topics.insert(name);
                }
                Ok(Subscription::Namespace(namespace)) => {
                    wildcards = true;
                    match list(client, &namespace).await {
                        Ok(listed) => topics.extend(listed),
                        Err(e) => problems.push(format!("cannot follow `{filter}`: {e}")),
                    }
                }
                Err(e) => problems.push(format!("cannot follow topic filter `{filter}`: {e}")),
            }
        }
        let problem = (!problems.is_empty()).then(|| problems.join("; "));
        let mut reported = self.problem.lock();
        if problem.is_some() && *reported != problem {
            tracing::warn!(client = %self.id, "{}", problem.as_deref().unwrap_or_default());
        }
        *reported = problem;
        (topics, wildcards)
    }

    /// A consumer of the client's subscription for `topics` (full names).
    async fn consumer(
        &self,
        client: &Client,
        topics: &BTreeSet<String>,
    ) -> anyhow::Result<PulsarConsumer> {
        let options = ConsumerOptions::default().with_initial_position(InitialPosition::Earliest);
        let consumer = client
            .consumer()
            .with_topics(topics)
            .with_subscription(&self.settings.subscription)
            .with_subscription_type(self.settings.kind)
            .with_consumer_name(format!("switchyard-{}", self.id))
            .with_options(options)
            .build()
            .await;
        consumer.with_context(|| {
            let names: Vec<&str> = topics.iter().map(|t| short_name(t)).collect();
            format!(
                "cannot subscribe `{}` to [{}]",
                self.settings.subscription,
                names.join(", ")
            )
        })
    }
}

/// The persistent topics of `namespace` (full names).
async fn list(client: &Client, namespace: &str) -> anyhow::Result<Vec<String>> {
    let listing = client.get_topics_of_namespace(namespace.to_owned(), Mode::Persistent);
    let listed = tokio::time::timeout(ANSWER_TIMEOUT, listing)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "the broker did not list the topics of `{namespace}` within {ANSWER_TIMEOUT:?}"
            )
        })?
        .with_context(|| format!("listing the topics of `{namespace}`"))?;
    Ok(listed
        .into_iter()
        .filter(|topic| crate::topic::in_namespace(topic, namespace))
        .collect())
}

/// Connects, consumes and starts over on failure, until stopped.
async fn run(
    shared: Arc<Shared>,
    deliveries: Consumer<PulsarDelivery>,
    mut stop: watch::Receiver<bool>,
) {
    let (settle_tx, mut settles) = mpsc::channel(SETTLE_QUEUE);
    let mut topics_changed = shared.topics_changed.subscribe();
    let mut generation = 0;
    let mut backoff = RETRY_MIN;
    'connect: loop {
        let client = match shared.connect().await {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(client = %shared.id, "{e:#}");
                shared.report(false, Some(format!("{e:#}")));
                if wait(&mut stop, &mut backoff).await {
                    break;
                }
                continue;
            }
        };
        *shared.client.lock() = Some(client.clone());
        loop {
            topics_changed.borrow_and_update();
            let (topics, wildcards) = shared.wanted_topics(&client).await;
            let consumer = match topics.is_empty() {
                true => None,
                false => match shared.consumer(&client, &topics).await {
                    Ok(consumer) => Some(consumer),
                    Err(e) => {
                        tracing::warn!(client = %shared.id, "{e:#}");
                        shared.report(true, Some(format!("{e:#}")));
                        if wait(&mut stop, &mut backoff).await {
                            break 'connect;
                        }
                        continue 'connect;
                    }
                },
            };
            shared.report(true, shared.problem());
            generation += 1;
            let receiving = Receiving {
                shared: &shared,
                generation,
                settle_tx: &settle_tx,
                deliveries: &deliveries,
            };
            let changed = changed(&shared, &client, &mut topics_changed, &topics, wildcards);
            let ended = match consumer {
                Some(mut consumer) => {
                    let ended = tokio::select! {
                        ended = receiving.consume(&mut consumer, &mut settles) => ended,
                        _ = changed => Ended::TopicsChanged,
                        _ = stop.wait_for(|s| *s) => Ended::Stopped,
                    };
                    // Acknowledgements already decided go out before the consumer closes, so
                    // a clean stop does not have them delivered again.
                    while let Ok(settle) = settles.try_recv() {
                        receiving.settle(&mut consumer, settle).await;
                    }
                    // Unacknowledged messages go back to the subscription's other consumers.
                    let _ = tokio::time::timeout(ANSWER_TIMEOUT, consumer.close()).await;
                    ended
                }
                None => tokio::select! {
                    _ = changed => Ended::TopicsChanged,
                    _ = stop.wait_for(|s| *s) => Ended::Stopped,
                },
            };
            match ended {
                Ended::Stopped => break 'connect,
                Ended::TopicsChanged => backoff = RETRY_MIN,
                Ended::Broken(why) => {
                    tracing::warn!(client = %shared.id, "{why}");
                    shared.report(false, Some(why));
                    if wait(&mut stop, &mut backoff).await {
                        break 'connect;
                    }
                    continue 'connect;
                }
            }
        }
    }
    *shared.client.lock() = None;
    deliveries.stop();
}

/// Resolves once the client should follow other topics than `following`: its filters
/// changed, or a wildcard's namespace has new topics (or lost some).
async fn changed(
    shared: &Shared,
    client: &Client,
    topics_changed: &mut watch::Receiver<()>,
    following: &BTreeSet<String>,
    wildcards: bool,
) {
    loop {
        // A broker that does not list a namespace is asked less often: each unanswered
        // request stays registered on the connection.
        let every = match shared.problem() {
            Some(_) => LISTING_RETRY,
            None => LISTING_REFRESH,
        };
        tokio::select! {
            _ = topics_changed.changed() => return,
            _ = tokio::time::sleep(every), if wildcards => {
                if shared.wanted_topics(client).await.0 != *following {
                    return;
                }
            }
        }
    }
}

/// Waits out the backoff (and doubles it); true if stopped meanwhile.
async fn wait(stop: &mut watch::Receiver<bool>, backoff: &mut Duration) -> bool {
    let delay = *backoff;
    *backoff = (*backoff * 2).min(RETRY_MAX);
    tokio::select! {
        _ = stop.wait_for(|s| *s) => true,
        _ = tokio::time::sleep(delay) => false,
    }
}

/// One consumer's receiving side.
struct Receiving<'a> {
    shared: &'a Arc<Shared>,
    generation: u64,
    settle_tx: &'a mpsc::Sender<Settle>,
    deliveries: &'a Consumer<PulsarDelivery>,
}

impl Receiving<'_> {
    /// Receives into the client's consumer, waiting while it is full, and settles what it
    /// asks, until the consumer breaks.
    async fn consume(
        &self,
        consumer: &mut PulsarConsumer,
        settles: &mut mpsc::Receiver<Settle>,
    ) -> Ended {
        let push = |delivery| self.deliveries.push(delivery);
        let mut pushing = pin!(OptionFuture::from(None::<PulsarDelivery>.map(push)));
        let mut waiting = false;
        loop {
            tokio::select! {
                biased;
                Some(settle) = settles.recv() => self.settle(consumer, settle).await,
                pushed = &mut pushing, if waiting => {
                    waiting = false;
                    if let Some(Err(_)) = pushed {
                        return Ended::Stopped;
                    }
                }
                received = consumer.next(), if !waiting => match received {
                    Some(Ok(message)) => {
                        pushing.set(Some(push(self.delivery(message))).into());
                        waiting = true;
                    }
                    Some(Err(e)) => return Ended::Broken(format!("Pulsar consumer: {e}")),
                    None => return Ended::Broken("the Pulsar consumer stopped".into()),
                },
            }
        }
    }

    async fn settle(&self, consumer: &mut PulsarConsumer, settle: Settle) {
        if settle.generation != self.generation {
            return;
        }
        let Settle { topic, id, ack, .. } = settle;
        let done = if ack {
            consumer.ack_with_id(&topic, id).await
        } else {
            consumer.nack_with_id(&topic, id).await
        };
        if let Err(e) = done {
            tracing::debug!(client = %self.shared.id, topic, "not settled with Pulsar: {e}");
        }
    }

    /// Takes the message apart. Its properties go to the callback as headers, its key (the
    /// partition key, raw bytes when it was sent as bytes) as the key.
    fn delivery(&self, message: Message<Vec<u8>>) -> PulsarDelivery {
        let metadata = message.metadata();
        let headers = (metadata.properties.iter())
            .map(|p| (p.key.clone(), p.value.clone().into_bytes()))
            .collect();
        let key = message.key_bytes().ok().flatten();
        let topic = short_name(&message.topic).to_owned();
        // Pulsar keeps order per key (KeyShared) and per topic: so do the callbacks.
        let lane = metadata
            .partition_key
            .as_ref()
            .map(|key| format!("{topic}#{key}"));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let id = message.message_id().clone();
        // Moved out, not copied: the message is ours.
        let Message {
            topic: full_topic,
            payload,
            ..
        } = message;
        PulsarDelivery {
            incoming: Incoming {
                client_id: self.shared.id.clone(),
                topic,
                payload: payload.data,
                key,
                headers,
                received_at_ms: now.as_millis() as u64,
                lane,
                // The consumer sets the tenant.
                ..Incoming::default()
            },
            settle: Settle {
                generation: self.generation,
                topic: full_topic,
                id,
                ack: true,
            },
            to: self.settle_tx.clone(),
        }
    }
}

/// Probes the broker every few seconds and reports what happened.
async fn check_health(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(HEALTH_EVERY) => {}
        }
        // Before the first connection, the connecting task reports.
        let Some(client) = shared.client() else {
            continue;
        };
        let probe = client.lookup_topic("persistent://public/default/switchyard-health");
        match tokio::time::timeout(ANSWER_TIMEOUT, probe).await {
            Ok(Ok(_)) => shared.report(true, shared.problem()),
            Ok(Err(e)) => shared.report(false, Some(format!("cannot reach Pulsar: {e}"))),
            Err(_) => shared.report(
                false,
                Some(format!(
                    "cannot reach Pulsar: no answer within {ANSWER_TIMEOUT:?}"
                )),
            ),
        }
    }
}

/// A received message and how to settle it.
struct PulsarDelivery {
    incoming: Incoming,
    settle: Settle,
    to: mpsc::Sender<Settle>,
}

impl Delivery for PulsarDelivery {
    fn incoming(&self) -> Incoming {
        self.incoming.clone()
    }

    fn acknowledge(self) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            // A stopped connection is gone, and its consumer closed: the broker redelivers.
            let _ = self.to.send(self.settle).await;
        })
    }

    /// A negative acknowledgement: the broker delivers the message again, perhaps to another
    /// consumer of the subscription.
    fn redeliver(mut self) -> Result<BoxFuture<'static, ()>, Self> {
        self.settle.ack = false;
        Ok(self.acknowledge())
    }
}

impl switchyard_broker::Connection for Connection {
    type Settings = Settings;

    fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Stops consuming and closes the consumer, so the broker hands what is unacknowledged
    /// to the subscription's other consumers.
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.tasks.stop().await;
            self.shared.report(false, None);
        })
    }

    fn set_filters(&self, filters: BTreeSet<String>) -> BoxFuture<'_, anyhow::Result<()>> {
        self.shared
            .change_topics(|topics| topics.set_filters(filters));
        Box::pin(async { Ok(()) })
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let client = (self.shared.client())
                .ok_or_else(|| anyhow::anyhow!("the Pulsar client is not connected"))?;
            let full = crate::topic::full_name(topic).map_err(|e| anyhow::anyhow!(e))?;
            let sent = async { client.send(full, payload).await?.await };
            sent.await
                .map(drop)
                .with_context(|| format!("publishing to Pulsar topic `{topic}`"))
        })
    }

    fn subscribe<'a>(&'a self, filter: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        self.shared
            .change_topics(|topics| topics.add(filter.to_owned()));
        Box::pin(async { Ok(()) })
    }

    fn unsubscribe<'a>(&'a self, filter: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        self.shared.change_topics(|topics| topics.remove(filter));
        Box::pin(async { Ok(()) })
    }
}
