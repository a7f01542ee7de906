//! Group commit of write sets: sled writes (and `sync_file_range`s) its log once per
//! transaction, whatever its size, so write sets committed at the same time share one.
//!
//! The first write set to arrive while none is being committed starts a blocking task; every
//! set that arrives while it commits waits in the queue, and the task commits all of them
//! together next, until the queue is empty. An idle store thus commits each set at once, and
//! a busy one commits them in batches as large as the load makes them.

use crate::txn::{self, Txn};
use crate::{Change, Error, Result};
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Write sets in one sled transaction, at most, so one batch does not hold the rest for long.
const BATCH: usize = 256;

type Reply = oneshot::Sender<Result<Vec<Change>>>;

#[derive(Default)]
pub(crate) struct Committer {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(Txn, Reply)>,
    /// Whether a task is committing; it takes whatever is waiting before it ends.
    running: bool,
}

impl Committer {
    pub(crate) async fn commit(&self, txn: Txn) -> Result<Vec<Change>> {
        let store = txn.store().clone();
        let (reply, committed) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().expect("commit queue");
            queue.waiting.push((txn, reply));
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            tokio::task::spawn_blocking(move || {
                let committer = &store.inner.committer;
                while let Some(batch) = committer.next_batch() {
                    let (txns, replies): (Vec<Txn>, Vec<Reply>) = batch.into_iter().unzip();
                    match txn::commit_together(&store, txns) {
                        Ok(outcomes) => {
                            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                                let _ = reply.send(outcome);
                            }
                        }
                        Err(e) => {
                            for reply in replies {
                                let _ = reply.send(Err(e.clone()));
                            }
                        }
                    }
                }
            });
        }
        committed.await.map_err(|_| {
            Error::Storage(sled::Error::ReportableBug(
                "the group commit task ended without an answer".into(),
            ))
        })?
    }

    /// The next write sets to commit, or `None` (and the task ends) when none are waiting.
    fn next_batch(&self) -> Option<Vec<(Txn, Reply)>> {
        let mut queue = self.queue.lock().expect("commit queue");
        if queue.waiting.is_empty() {
            queue.running = false;
            return None;
        }
        let take = queue.waiting.len().min(BATCH);
        let rest = queue.waiting.split_off(take);
        Some(std::mem::replace(&mut queue.waiting, rest))
    }
}
