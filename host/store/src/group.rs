//! Group commit of write sets: an engine writes once per transaction, whatever its size, so
//! write sets committed at the same time share one.
//!
//! Leader and followers, without a thread of its own: a write set that finds nobody
//! committing commits at once, on its own task, together with every set queued so far; sets
//! that arrive meanwhile queue, and when the commit is done the first of them is woken to lead
//! the next one. An idle store thus commits each set at once, and a busy one in batches as
//! large as the load makes them.

use crate::txn::{self, Txn};
use crate::{Change, Error, Result};
use parking_lot::Mutex;
use tokio::sync::oneshot;

/// Write sets in one transaction, at most, so one batch does not hold the rest for long.
const BATCH: usize = 256;

/// What a queued write set's owner is told.
enum Turn {
    /// Its set was committed with a batch (or failed).
    Done(Result<Vec<Change>>),
    /// It leads the next batch, starting with its own set.
    Lead(Txn),
}

#[derive(Default)]
pub(crate) struct Committer {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(Txn, oneshot::Sender<Turn>)>,
    /// Whether a batch is being committed; its leader wakes the next one.
    leading: bool,
}

impl Committer {
    pub(crate) async fn commit(&self, txn: Txn) -> Result<Vec<Change>> {
        let (reply, turn) = oneshot::channel();
        let leads = {
            let mut queue = self.queue.lock();
            if queue.leading {
                queue.waiting.push((txn, reply));
                None
            } else {
                queue.leading = true;
                Some(txn)
            }
        };
        let txn = match leads {
            Some(txn) => txn,
            None => match turn.await {
                Ok(Turn::Done(outcome)) => return outcome,
                Ok(Turn::Lead(txn)) => txn,
                Err(_) => return Err(Error::Conflict("the commit leader went away".into())),
            },
        };
        // No await from here on: a leader is never cancelled halfway. If it panics, the guard
        // still hands over, so later commits do not wait for a leader that is gone.
        let _hand_over = HandOver(self);
        let store = txn.store().clone();
        let mut followers = {
            let mut queue = self.queue.lock();
            let take = queue.waiting.len().min(BATCH - 1);
            let rest = queue.waiting.split_off(take);
            std::mem::replace(&mut queue.waiting, rest)
        };
        let (others, replies): (Vec<Txn>, Vec<_>) = followers.drain(..).unzip();
        let txns = std::iter::once(txn).chain(others).collect();
        let mut outcomes = match txn::commit_together(&store, txns) {
            Ok(outcomes) => outcomes,
            Err(e) => vec![Err(e); replies.len() + 1],
        };
        let own = outcomes.remove(0);
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // A follower that gave up (its task was cancelled) needs no answer.
            let _ = reply.send(Turn::Done(outcome));
        }
        own
    }

    /// Wakes the first queued write set's owner to lead the next batch, or notes that nobody
    /// leads. An owner that gave up is skipped, and its set not committed.
    fn hand_over(&self) {
        let mut queue = self.queue.lock();
        while !queue.waiting.is_empty() {
            let (txn, reply) = queue.waiting.remove(0);
            if reply.send(Turn::Lead(txn)).is_ok() {
                return;
            }
        }
        queue.leading = false;
    }
}

/// Hands the lead over when the leader is done, however it ends.
struct HandOver<'a>(&'a Committer);

impl Drop for HandOver<'_> {
    fn drop(&mut self) {
        self.0.hand_over();
    }
}
