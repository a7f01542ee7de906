//! The dispatcher: finds the subscribers a message is for, runs their callbacks concurrently
//! (each in order per topic, or per Kafka partition, through its [`Lanes`], unless the
//! subscriber opts out with `ordered: false`), commits what each callback wrote, sends what it
//! published, keeps each failure (retry queue, then `FailedMessage`), and says what became of
//! the message. A lane's next callbacks are invoked ahead of their turn and their results kept
//! only if what they read is unchanged when the turn comes ([`Txn::reads_current`]).
//!
//! A subscriber whose plugin takes batches (`limits.batch`) has no callbacks ahead of their
//! turn: in its turn, a message leads the messages queued right behind it in its lane into one
//! call of the batch handler and one commit ([`Turn::lead`]); a batch that fails runs again
//! one message at a time, so each message keeps its own outcome.
//!
//! A message belongs to the tenant of the client it arrived on: its subscribers, callbacks,
//! writes, publishes and failures are all that tenant's, and its callbacks start at the
//! tenant's `invocationsPerSecond` ([`Throttle`]).
//!
//! [`Txn::reads_current`]: switchyard_store::Txn::reads_current
//! [`Turn::lead`]: crate::lanes::Turn::lead

use crate::callbacks::Callbacks;
use crate::failures::{Failures, Queued, now_ms};
use crate::lanes::{Lanes, Turn};
use crate::record::Failure;
use crate::throttle::Throttle;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard_broker::{BoxFuture, Brokers, Inbound, Incoming, Outcome, Unsettled};
use switchyard_model::{FAILED_MESSAGE, MESSAGE_SUBSCRIBER, Report, Subscriber};
use switchyard_runtime::profile::{self, Phase};
use switchyard_runtime::{
    Effects, InvokeError, InvokeFailure, LogSource, Message, SubscriptionChange,
};
use switchyard_store::{Filter, Op, Query, Retries, Store};
use switchyard_tenants::Tenants;
use tokio::sync::oneshot;

pub use crate::failures::Retention;

/// How often the retry worker looks for retries on a store shared with other instances, when
/// it has none of its own due.
const SHARED_POLL: Duration = Duration::from_secs(2);

/// What an invocation left, or why it failed.
type Invoked = Result<Effects, InvokeFailure>;

/// What became of one message's callback: whether it failed, or why its failure could not be
/// kept.
type Ran = Result<bool, switchyard_store::Error>;

/// A message waiting in its lane for the turn that leads it into a batch.
struct Waiting {
    incoming: Arc<Incoming>,
    /// The subscriber as it was routed: a batch holds messages of one version of it.
    subscriber: Arc<Subscriber>,
    done: oneshot::Sender<Ran>,
}

/// Runs the callbacks for incoming messages. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    callbacks: Callbacks,
    brokers: Brokers,
    failures: Failures,
    tenants: Tenants,
    throttle: Throttle,
    lanes: Arc<Lanes<Waiting>>,
    routes: Mutex<Routes>,
}

/// The subscribers of each client, read from the store once per change to any subscriber
/// instead of once per message.
#[derive(Default)]
struct Routes {
    /// The store's subscriber generation these were read at.
    generation: u64,
    /// By tenant and client id.
    by_client: HashMap<(String, String), Arc<[Route]>>,
}

/// A subscriber as one client's messages are matched against it.
struct Route {
    subscriber: Arc<Subscriber>,
    /// Its topic filter as this client's broker writes topics (see
    /// [`switchyard_model::ClientKind::route_filter`]).
    filter: String,
}

/// Why one attempt of a callback failed.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    #[error("committing the callback's writes failed")]
    Commit(#[source] switchyard_store::Error),
    #[error("settling FailedMessage {0} failed")]
    Settle(String, #[source] switchyard_store::Error),
}

/// Why a replay did not happen or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no FailedMessage with id `{0}`")]
    NotFound(String),
    #[error("FailedMessage `{0}` cannot be replayed: {1}")]
    Unusable(String, String),
    #[error("the callback failed again")]
    Failed(#[source] CallbackError),
    #[error(transparent)]
    Storage(#[from] switchyard_store::Error),
}

impl Dispatcher {
    pub fn new(
        store: Store,
        callbacks: Callbacks,
        brokers: Brokers,
        tenants: Tenants,
        retention: Retention,
    ) -> Dispatcher {
        let failures = Failures::new(&store, retention);
        Dispatcher {
            inner: Arc::new(Inner {
                store,
                callbacks,
                brokers,
                failures,
                throttle: Throttle::new(tenants.clone()),
                tenants,
                lanes: Arc::default(),
                routes: Mutex::default(),
            }),
        }
    }

    /// The routes of `tenant`'s client's messages, as they are now: read from the store after
    /// any subscriber changed, from memory otherwise.
    fn routes(&self, tenant: &str, client_id: &str) -> switchyard_store::Result<Arc<[Route]>> {
        let generation = self.inner.store.generation(MESSAGE_SUBSCRIBER);
        let key = (tenant.to_owned(), client_id.to_owned());
        {
            let mut routes = self.inner.routes.lock();
            if routes.generation != generation {
                routes.by_client.clear();
                routes.generation = generation;
            }
            if let Some(found) = routes.by_client.get(&key) {
                return Ok(found.clone());
            }
        }
        let store = &self.store_of(tenant);
        let query = Query {
            filters: vec![Filter {
                column: "clients".into(),
                op: Op::Contains,
                value: client_id.into(),
            }],
            ..Query::default()
        };
        let page = store.query(MESSAGE_SUBSCRIBER, &query)?;
        let client = store.get(client_id)?;
        let kind = (client.as_ref()).and_then(|c| store.kinds().of(switchyard_model::type_of(c)));
        let found: Arc<[Route]> = (page.result.iter())
            .filter_map(Subscriber::of)
            .map(|subscriber| Route {
                filter: kind.map_or_else(
                    || subscriber.topic.clone(),
                    |kind| kind.route_filter(&subscriber.topic),
                ),
                subscriber: Arc::new(subscriber),
            })
            .collect();
        // Kept only if no subscriber changed while reading: otherwise the next message reads
        // again.
        let mut routes = self.inner.routes.lock();
        if routes.generation == generation {
            routes.by_client.insert(key, found.clone());
        }
        Ok(found)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The store as `tenant` sees it.
    fn store_of(&self, tenant: &str) -> Store {
        self.inner.store.in_tenant(tenant)
    }

    pub fn callbacks(&self) -> &Callbacks {
        &self.inner.callbacks
    }

    pub fn brokers(&self) -> &Brokers {
        &self.inner.brokers
    }

    pub fn tenants(&self) -> &Tenants {
        &self.inner.tenants
    }

    fn subscriber(&self, tenant: &str, id: &str) -> switchyard_store::Result<Option<Subscriber>> {
        let object = self.store_of(tenant).get(id)?;
        Ok(object.and_then(|o| Subscriber::of(&o)))
    }

    /// Starts every matching subscriber's callback on the message, each in a task of its own,
    /// taking its place in the subscriber's lane for the topic now, so callers keep order by
    /// calling this in arrival order. The future resolves once every callback is done and what
    /// it left (or the record of its failure) is committed. It is durable after the next
    /// [`Store::sync`]; acknowledge only then.
    pub fn dispatch(&self, incoming: Incoming) -> BoxFuture<'static, Outcome> {
        let routes = match self.routes(&incoming.tenant, &incoming.client_id) {
            Ok(routes) => routes,
            Err(e) => return Box::pin(std::future::ready(Outcome::Retry(e.into()))),
        };
        let incoming = Arc::new(incoming);
        let runs: Vec<_> = (routes.iter())
            .filter(|route| switchyard_topic::matches(&route.filter, &incoming.topic))
            .map(|route| {
                let subscriber = route.subscriber.clone();
                let lane = incoming.lane.as_deref().unwrap_or(&incoming.topic);
                let lane = format!("{}\0{lane}", subscriber.id);
                let (this, incoming) = (self.clone(), incoming.clone());
                let batch = match subscriber.ordered {
                    true => (self.inner.callbacks).batch(&incoming.tenant, &subscriber.callback),
                    false => 1,
                };
                if batch > 1 {
                    let (done, ran) = oneshot::channel();
                    let waiting = Waiting {
                        incoming: incoming.clone(),
                        subscriber: subscriber.clone(),
                        done,
                    };
                    let turn = self.inner.lanes.enter_with(lane, waiting);
                    return tokio::spawn(async move {
                        this.batched(&subscriber, &incoming, turn, ran, batch).await
                    });
                }
                let turn = subscriber.ordered.then(|| self.inner.lanes.enter(lane));
                tokio::spawn(async move {
                    // Held until the attempt and its failure record are done: the lane's next
                    // turn waits for both, so failures are recorded in order too.
                    let (_turn, early) = match turn {
                        Some(mut turn) => {
                            // Ahead of its turn the callback runs now and its result is checked
                            // when the turn comes; in its turn it runs as usual, unchecked.
                            let early = match turn.start().await {
                                true => Some(this.invoke(&subscriber, &incoming).await),
                                false => None,
                            };
                            turn.wait().await;
                            (Some(turn), early)
                        }
                        None => (None, None),
                    };
                    this.run(&subscriber, &incoming, early).await
                })
            })
            .collect();
        Box::pin(async move {
            let mut failed = 0;
            for run in runs {
                match run.await {
                    Ok(Ok(false)) => {}
                    Ok(Ok(true)) => failed += 1,
                    Ok(Err(e)) => return Outcome::Retry(e.into()),
                    Err(stopped) => return Outcome::Retry(Unsettled::Stopped(stopped.to_string())),
                }
            }
            match failed {
                0 => Outcome::Done,
                callbacks => Outcome::Failed { callbacks },
            }
        })
    }

    /// One message's callback in the lane of a subscriber whose plugin takes batches: in its
    /// turn the message leads those queued right behind it, unless a turn ahead led it into its
    /// own batch; either way its outcome comes back through `ran`.
    async fn batched(
        &self,
        subscriber: &Subscriber,
        incoming: &Incoming,
        mut turn: Turn<Waiting>,
        mut ran: oneshot::Receiver<Ran>,
        max: usize,
    ) -> Ran {
        // Led into a batch by a turn ahead, the message is done once told its outcome, and
        // outcomes are told in the lane's order: its turn may end then, before the turns ahead
        // of it have, so the lane's next batch does not wait for each of them to end in turn.
        let told = tokio::select! {
            told = &mut ran => Some(told),
            () = turn.wait() => None,
        };
        let told = match told {
            Some(told) => told,
            None => {
                let mut led = turn.lead(max);
                while !led.is_empty() {
                    let first = &led[0].subscriber;
                    let same = (led.iter())
                        .take_while(|w| Arc::ptr_eq(&w.subscriber, first))
                        .count();
                    let rest = led.split_off(same);
                    self.run_batch(std::mem::replace(&mut led, rest)).await;
                }
                ran.await
            }
        };
        let outcome = match told {
            Ok(outcome) => outcome,
            // Whoever led it stopped before saying what became of it: it runs alone, in turn.
            Err(_) => {
                turn.wait().await;
                self.run(subscriber, incoming, None).await
            }
        };
        // The lane's next turn waits until this one has its outcome.
        drop(turn);
        outcome
    }

    /// Runs a subscriber's callback on messages led out of one lane: as one batch, and, if the
    /// batch fails, one message at a time, so each keeps its own outcome (and its failure is
    /// recorded as if it had never been in a batch).
    async fn run_batch(&self, led: Vec<Waiting>) {
        let subscriber = &led[0].subscriber.clone();
        if led.len() > 1 {
            match self.attempt_batch(subscriber, &led).await {
                Ok(()) => {
                    for waiting in led {
                        let _ = waiting.done.send(Ok(false));
                    }
                    return;
                }
                Err(error) => tracing::debug!(
                    subscriber = %subscriber.id,
                    messages = led.len(),
                    "the batch failed, so its messages run one at a time: {}",
                    Report(&error)
                ),
            }
        }
        for waiting in led {
            let ran = self.run(subscriber, &waiting.incoming, None).await;
            let _ = waiting.done.send(ran);
        }
    }

    /// One attempt of a batch: invoke the batch handler, commit, send; run again on the latest
    /// data when the commit lost a race with another writer.
    async fn attempt_batch(
        &self,
        subscriber: &Subscriber,
        led: &[Waiting],
    ) -> Result<(), CallbackError> {
        let tenant = &led[0].incoming.tenant;
        let mut retries = Retries::default();
        loop {
            let messages = (led.iter())
                .map(|waiting| message(subscriber, &waiting.incoming))
                .collect();
            for _ in led {
                self.inner.throttle.admit(tenant).await;
            }
            let writes = self.store_of(tenant).begin();
            let effects = (self.inner.callbacks)
                .invoke_batch(tenant, &subscriber.callback, messages, writes)
                .await
                .map_err(|failure| failure.error)?;
            match self.apply(tenant, effects).await {
                Err(switchyard_store::Error::Conflict(_)) if let Some(pause) = retries.lost() => {
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(CallbackError::Commit(e)),
                Ok(()) => return Ok(()),
            }
        }
    }

    /// Runs one subscriber's callback on a message and keeps its failure, if it failed.
    /// Whether it failed, or why its failure could not be kept.
    async fn run(
        &self,
        subscriber: &Subscriber,
        incoming: &Incoming,
        early: Option<Invoked>,
    ) -> Ran {
        let Err(error) = self.attempt(subscriber, incoming, None, early).await else {
            return Ok(false);
        };
        let error = Report(&error).to_string();
        self.failed(subscriber, incoming, 1, &error);
        let failure = Failure::first(&subscriber.id, &subscriber.callback, incoming, error);
        self.inner.failures.keep(failure, subscriber)?;
        Ok(true)
    }

    /// Says that attempt `attempt` of a callback failed: in the server log, and in the
    /// tenant's plugin log, where the plugin's owner looks.
    fn failed(&self, subscriber: &Subscriber, incoming: &Incoming, attempt: u32, error: &str) {
        tracing::warn!(
            tenant = %incoming.tenant,
            subscriber = %subscriber.id,
            plugin = %subscriber.callback,
            topic = %incoming.topic,
            attempt,
            "callback failed: {error}"
        );
        let source = LogSource {
            tenant: &incoming.tenant,
            plugin: &subscriber.callback,
            subscriber: &subscriber.id,
            topic: &incoming.topic,
        };
        let journal = self.inner.callbacks.plugins().runtime().journal();
        let message = format!("attempt {attempt} failed: {error}");
        journal.host(&source, "error", &message);
    }

    /// One attempt of one subscriber's callback: invoke, commit, send. A commit that lost a
    /// race with another writer runs the callback again on the latest data. `settles` is a
    /// `FailedMessage` to delete in the same commit (a replay). `early` is an invocation run
    /// ahead of the message's turn, its result or its failure: kept if nothing it read changed
    /// since, run again otherwise.
    async fn attempt(
        &self,
        subscriber: &Subscriber,
        incoming: &Incoming,
        settles: Option<&str>,
        mut early: Option<Invoked>,
    ) -> Result<(), CallbackError> {
        let mut retries = Retries::default();
        loop {
            let invoked = match early.take() {
                Some(Ok(effects)) if effects.writes.reads_current().unwrap_or(false) => Ok(effects),
                Some(Err(failure)) if failure.reads_current().unwrap_or(false) => Err(failure),
                _ => self.invoke(subscriber, incoming).await,
            };
            let mut effects = invoked.map_err(|failure| failure.error)?;
            if let Some(id) = settles {
                (effects.writes.delete(id)).map_err(|e| CallbackError::Settle(id.to_owned(), e))?;
            }
            match self.apply(&incoming.tenant, effects).await {
                Err(switchyard_store::Error::Conflict(reason))
                    if let Some(pause) = retries.lost() =>
                {
                    tracing::debug!(subscriber = %subscriber.id, "running again: {reason}");
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(CallbackError::Commit(e)),
                Ok(()) => return Ok(()),
            }
        }
    }

    /// Runs the subscriber's callback on the message.
    async fn invoke(&self, subscriber: &Subscriber, incoming: &Incoming) -> Invoked {
        let message = message(subscriber, incoming);
        let tenant = &incoming.tenant;
        self.inner.throttle.admit(tenant).await;
        let writes = self.store_of(tenant).begin();
        (self.inner.callbacks)
            .invoke(tenant, &subscriber.callback, message, writes)
            .await
    }

    /// Commits the callback's writes, then sends its publishes and subscription changes
    /// through `tenant`'s clients.
    async fn apply(&self, tenant: &str, effects: Effects) -> switchyard_store::Result<()> {
        let started = Instant::now();
        effects.writes.commit_grouped().await?;
        let committed = Instant::now();
        profile::record(Phase::Commit, committed - started);
        let brokers = &self.inner.brokers.in_tenant(tenant);
        let published = !effects.publishes.is_empty();
        for publish in effects.publishes {
            let (client, topic) = (&publish.client.id, &publish.topic);
            if let Err(e) = brokers.send(&publish.client, topic, publish.payload).await {
                tracing::warn!(client = %client, topic = %topic, "publish failed: {e}");
            }
        }
        if published {
            profile::record(Phase::Publish, committed.elapsed());
        }
        for change in effects.subscriptions {
            let result = match &change {
                SubscriptionChange::Subscribe { client_id, topic } => {
                    brokers.subscribe(client_id, topic).await
                }
                SubscriptionChange::Unsubscribe { client_id, topic } => {
                    brokers.unsubscribe(client_id, topic).await
                }
            };
            if let Err(e) = result {
                tracing::warn!(?change, "subscription change failed: {e}");
            }
        }
        Ok(())
    }

    /// Works through the retry queue until the task is dropped: each failure is tried again
    /// when due, through its subscriber's current callback, and recorded as a `FailedMessage`
    /// once its subscriber's `maxAttempts` are spent. Run it once per server.
    pub async fn run_retries(&self) {
        let failures = &self.inner.failures;
        loop {
            let next = match failures.next() {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!("cannot read the retry queue: {}", Report(&e));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let due_in = (next.as_ref())
                .map(|queued| Duration::from_millis(queued.due_ms.saturating_sub(now_ms())));
            let Some(queued) = next.filter(|_| due_in == Some(Duration::ZERO)) else {
                // Other instances sharing the store queue retries too, and leave theirs behind
                // when they die: look again now and then.
                let poll = self.inner.store.is_shared().then_some(SHARED_POLL);
                let wait = match (due_in, poll) {
                    (Some(due), Some(poll)) => Some(due.min(poll)),
                    (due, poll) => due.or(poll),
                };
                match wait {
                    Some(wait) => tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = failures.wake.notified() => {}
                    },
                    None => failures.wake.notified().await,
                }
                continue;
            };
            match failures.claim(&queued) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!("cannot claim a retry: {}", Report(&e));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            if let Err(e) = self.retry(queued).await {
                tracing::error!("cannot update the retry queue: {}", Report(&e));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn retry(&self, mut queued: Queued) -> switchyard_store::Result<()> {
        let failure = &mut queued.failure;
        let again = match self.subscriber(&failure.message.tenant, &failure.subscriber)? {
            None => {
                failure.again("its subscriber was deleted; not retried".into());
                self.inner.failures.give_up(failure)?;
                None
            }
            Some(subscriber) => match self
                .attempt(&subscriber, &failure.message, None, None)
                .await
            {
                Ok(()) => None,
                Err(error) => {
                    let error = Report(&error).to_string();
                    self.failed(&subscriber, &failure.message, failure.attempts + 1, &error);
                    failure.again(error);
                    Some(subscriber)
                }
            },
        };
        self.inner.failures.settle(queued, again.as_ref())?;
        self.inner.store.sync().await
    }

    /// Runs `tenant`'s `FailedMessage` through its subscriber's current callback. On success
    /// the record is deleted in the same commit as the callback's writes; on failure it stays,
    /// with the new error and one more attempt.
    pub async fn replay(&self, tenant: &str, failed_id: &str) -> Result<(), ReplayError> {
        let store = &self.store_of(tenant);
        let object = (store.get(failed_id)?)
            .filter(|o| switchyard_model::type_of(o) == FAILED_MESSAGE)
            .ok_or_else(|| ReplayError::NotFound(failed_id.to_owned()))?;
        let unusable = |why: String| ReplayError::Unusable(failed_id.to_owned(), why);
        let mut failure =
            Failure::from_json(&serde_json::Value::Object(object)).map_err(unusable)?;
        failure.message.tenant = tenant.to_owned();
        let subscriber = (self.subscriber(tenant, &failure.subscriber)?).ok_or_else(|| {
            unusable(format!(
                "its subscriber `{}` no longer exists",
                failure.subscriber
            ))
        })?;
        let result = self
            .attempt(&subscriber, &failure.message, Some(failed_id), None)
            .await;
        if let Err(error) = &result {
            let error = Report(error).to_string();
            self.failed(&subscriber, &failure.message, failure.attempts + 1, &error);
            failure.again(error);
            let record = failure.to_json();
            // The record is the message: kept whatever the tenant stored.
            (store.unquoted()).write(|txn| txn.update(failed_id, record.clone()))?;
        }
        store.sync().await?;
        result.map_err(ReplayError::Failed)
    }

    /// Replays every `FailedMessage` of `tenant` (of one subscriber, if given), oldest first.
    /// Returns how many succeeded and how many failed again.
    pub async fn replay_all(
        &self,
        tenant: &str,
        subscriber: Option<&str>,
    ) -> Result<(usize, usize), ReplayError> {
        let query = Query {
            filters: (subscriber.iter())
                .map(|id| Filter {
                    column: "subscriber".into(),
                    op: Op::Eq,
                    value: (*id).into(),
                })
                .collect(),
            ..Query::default()
        };
        let page = self.store_of(tenant).query(FAILED_MESSAGE, &query)?;
        let (mut replayed, mut failed) = (0, 0);
        for object in page.result {
            match self.replay(tenant, switchyard_model::id_of(&object)).await {
                Ok(()) => replayed += 1,
                Err(ReplayError::Storage(e)) => return Err(ReplayError::Storage(e)),
                Err(_) => failed += 1,
            }
        }
        Ok((replayed, failed))
    }
}

/// A message as `subscriber`'s callback gets it.
fn message(subscriber: &Subscriber, incoming: &Incoming) -> Message {
    Message {
        topic: incoming.topic.clone(),
        payload: incoming.payload.clone(),
        client_id: incoming.client_id.clone(),
        subscriber_id: subscriber.id.clone(),
        key: incoming.key.clone(),
        headers: incoming.headers.clone(),
        timestamp_ms: incoming.received_at_ms,
        subscriber: Some(subscriber.object.clone()),
    }
}

impl Inbound for Dispatcher {
    fn filters_for(&self, tenant: &str, client_id: &str) -> Vec<String> {
        let routes = self.routes(tenant, client_id).unwrap_or_else(|e| {
            tracing::error!(
                tenant,
                client = client_id,
                "cannot read subscribers: {}",
                Report(&e)
            );
            Arc::from([])
        });
        let mut filters: Vec<String> = (routes.iter())
            .map(|route| route.subscriber.topic.clone())
            .collect();
        filters.sort();
        filters.dedup();
        filters
    }

    fn dispatch(self: Arc<Self>, message: Incoming) -> BoxFuture<'static, Outcome> {
        Dispatcher::dispatch(&self, message)
    }

    fn durable(&self) -> BoxFuture<'_, Result<(), switchyard_store::Error>> {
        Box::pin(self.inner.store.sync())
    }
}
