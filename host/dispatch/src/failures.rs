//! Failed callbacks, kept off the client's ordered path: a durable retry queue with backoff,
//! and `FailedMessage` objects for the ones that gave up, capped by count and bytes.
//!
//! The first failure of a callback is written here (and made durable with the rest of the
//! message's outcome) before the message is acknowledged; from then on the retry worker owns
//! it, and the messages behind it on its client go on. A process crash loses nothing: the
//! queue is the store's `retries` queue and is picked up again at start.
//!
//! One queue serves every tenant (its records name their tenant); `FailedMessage` records are
//! kept in their tenant, each tenant within the retention limits.

use crate::record::Failure;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchyard_model::{FAILED_MESSAGE, Subscriber};
use switchyard_store::{Queue, Result, Store};
use tokio::sync::Notify;

/// The store queue of retries.
const RETRIES: &str = "retries";
/// The backoff doubles per attempt up to this.
const MAX_DELAY: Duration = Duration::from_secs(3600);

/// How many `FailedMessage` objects each tenant keeps, and how many bytes they may take; past
/// either, the oldest are dropped (and the drop is logged).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_count: usize,
    pub max_bytes: u64,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            max_count: 10_000,
            max_bytes: 256 << 20,
        }
    }
}

/// The wait before the attempt after `attempts` failed ones of `subscriber`'s callback.
fn backoff(subscriber: &Subscriber, attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(20);
    subscriber.retry_delay.saturating_mul(factor).min(MAX_DELAY)
}

/// A queued retry: its queue entry and what failed.
pub(crate) struct Queued {
    entry: switchyard_store::Queued,
    pub due_ms: u64,
    pub failure: Failure,
}

/// How long an instance holds a retry it runs: far longer than an attempt takes, and the
/// time after which another instance retries it if this one died.
const CLAIM: std::time::Duration = std::time::Duration::from_secs(60);

pub(crate) struct Failures {
    store: Store,
    queue: Queue,
    /// Wakes the retry worker when something is queued.
    pub wake: Notify,
    retention: Retention,
    /// By tenant: `FailedMessage` count and bytes as last measured plus what was added since;
    /// absent until first measured. User deletions make it high, never low, so it only
    /// triggers a re-measure early.
    kept: Mutex<HashMap<String, (usize, u64)>>,
}

impl Failures {
    pub fn new(store: &Store, retention: Retention) -> Failures {
        Failures {
            store: store.clone(),
            queue: store.queue(RETRIES),
            wake: Notify::new(),
            retention,
            kept: Mutex::default(),
        }
    }

    /// Keeps a failure: in the retry queue while its subscriber allows more attempts,
    /// otherwise as a `FailedMessage`. Durable with the next [`Store::sync`].
    pub fn keep(&self, failure: Failure, subscriber: &Subscriber) -> Result<()> {
        if failure.attempts >= subscriber.max_attempts {
            return self.give_up(&failure);
        }
        let due = now_ms() + backoff(subscriber, failure.attempts).as_millis() as u64;
        self.queue.push(due, &encode(&failure))?;
        self.wake.notify_one();
        Ok(())
    }

    /// Moves a queued retry on: kept again (rescheduled or recorded), or done with.
    pub fn settle(&self, queued: Queued, again: Option<&Subscriber>) -> Result<()> {
        if let Some(subscriber) = again {
            self.keep(queued.failure, subscriber)?;
        }
        self.queue.remove(&queued.entry)
    }

    /// Holds `queued` for this instance while it retries it; whether it got it (another
    /// instance sharing the store may have been first).
    pub fn claim(&self, queued: &Queued) -> Result<bool> {
        self.queue.claim(&queued.entry, CLAIM)
    }

    /// The retry due first that no other instance holds, if any.
    pub fn next(&self) -> Result<Option<Queued>> {
        let Some(entry) = self.queue.first()? else {
            return Ok(None);
        };
        let failure = serde_json::from_slice(&entry.record)
            .map_err(|e| e.to_string())
            .and_then(|json| Failure::from_json(&json));
        match failure {
            Ok(failure) => Ok(Some(Queued {
                due_ms: entry.due_ms,
                entry,
                failure,
            })),
            Err(e) => {
                // Not ours to read (a future format?): set aside, never spin on it.
                tracing::error!("dropping an unreadable retry record: {e}");
                self.queue.remove(&entry)?;
                Ok(None)
            }
        }
    }

    /// Records a `FailedMessage` in its tenant, then keeps the tenant's records within the
    /// retention limits.
    pub fn give_up(&self, failure: &Failure) -> Result<()> {
        // Kept whatever the tenant stored: the record is the message.
        let store = self.store.in_tenant(&failure.message.tenant).unquoted();
        let object = store.create(FAILED_MESSAGE, failure.to_json())?;
        let id = switchyard_model::id_of(&object);
        tracing::warn!(
            tenant = %failure.message.tenant,
            subscriber = %failure.subscriber,
            plugin = %failure.callback,
            topic = %failure.message.topic,
            attempts = failure.attempts,
            "callback gave up; recorded FailedMessage {id}"
        );
        let size = serde_json::to_vec(&object).map_or(0, |b| b.len()) as u64;
        self.trim(&store, size)
    }

    fn trim(&self, store: &Store, added: u64) -> Result<()> {
        let mut kept = self.kept.lock();
        let (count, bytes) = match kept.get(store.tenant()) {
            Some((count, bytes)) => (count + 1, bytes + added),
            None => totals(&store.sizes(FAILED_MESSAGE)?),
        };
        let limits = self.retention;
        if count <= limits.max_count && bytes <= limits.max_bytes {
            kept.insert(store.tenant().to_owned(), (count, bytes));
            return Ok(());
        }
        let sizes = store.sizes(FAILED_MESSAGE)?;
        let (mut count, mut bytes) = totals(&sizes);
        let mut dropped = Vec::new();
        for (id, size) in sizes {
            if count <= limits.max_count && bytes <= limits.max_bytes {
                break;
            }
            count -= 1;
            bytes -= size as u64;
            dropped.push(id);
        }
        if !dropped.is_empty() {
            store.write(|txn| {
                for id in &dropped {
                    txn.delete(id)?;
                }
                Ok(())
            })?;
            tracing::warn!(
                tenant = store.tenant(),
                "dropped the {} oldest FailedMessage records to stay within {} records and {} bytes",
                dropped.len(),
                limits.max_count,
                limits.max_bytes
            );
        }
        kept.insert(store.tenant().to_owned(), (count, bytes));
        Ok(())
    }
}

/// Count and bytes of records listed by [`Store::sizes`].
fn totals(sizes: &[(String, usize)]) -> (usize, u64) {
    (
        sizes.len(),
        sizes.iter().map(|(_, size)| *size as u64).sum(),
    )
}

/// A retry record: the failure and its tenant.
fn encode(failure: &Failure) -> Vec<u8> {
    let mut record = failure.to_json();
    record["tenant"] = failure.message.tenant.clone().into();
    serde_json::to_vec(&record).expect("a JSON value serializes")
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
