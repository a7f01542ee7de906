//! Durable queues beside the objects: records due at a time, taken in due order (the retry
//! queue). Pushes and removals are durable with the store's next [`crate::Store::sync`], like
//! commits, so they join the acknowledgements that wait for it. Instances sharing a store
//! claim a record before they work on it, so none runs on two at once.

use crate::Result;
use crate::backend::Backend;
use std::sync::Arc;

/// One named queue. Cheap to clone.
#[derive(Clone)]
pub struct Queue {
    backend: Arc<dyn Backend>,
    name: &'static str,
}

/// A queued record.
pub struct Queued {
    /// Identifies the record to its engine.
    pub(crate) key: Vec<u8>,
    pub due_ms: u64,
    pub record: Vec<u8>,
}

impl Queue {
    pub(crate) fn new(backend: Arc<dyn Backend>, name: &'static str) -> Queue {
        Queue { backend, name }
    }

    /// Adds `record`, due at `due_ms` (milliseconds since the Unix epoch).
    pub fn push(&self, due_ms: u64, record: &[u8]) -> Result<()> {
        self.backend.queue_push(self.name, due_ms, record)
    }

    /// The record due first, if any (due or not), that no other instance holds.
    pub fn first(&self) -> Result<Option<Queued>> {
        self.backend.queue_first(self.name)
    }

    /// Takes the record for this instance for `hold`: other instances sharing the store do
    /// not see it meanwhile, and see it again after if this one died without removing it.
    /// Whether this instance got it (another may have been first).
    pub fn claim(&self, queued: &Queued, hold: std::time::Duration) -> Result<bool> {
        let hold_ms = u64::try_from(hold.as_millis()).unwrap_or(u64::MAX);
        self.backend.queue_claim(self.name, &queued.key, hold_ms)
    }

    /// Removes a record taken with [`Queue::first`].
    pub fn remove(&self, queued: &Queued) -> Result<()> {
        self.backend.queue_remove(self.name, &queued.key)
    }
}
