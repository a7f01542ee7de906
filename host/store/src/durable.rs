//! Durability shared by everyone who waits for it: one thread flushes the engine for all
//! waiters queued so far.
//!
//! A waiter enqueues itself after its commit; the flusher takes every waiter queued so far,
//! flushes once (the engine `fsync`s), then releases them all. A waiter that arrives during a
//! flush waits for the next one, which covers its commit. Under load a flush thus serves a
//! whole batch of acknowledgements, and an idle store flushes only on demand.

use crate::backend::Backend;
use crate::{Error, Result};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Waiters queued for the next flush, at most; more wait to enqueue.
const WAITERS: usize = 4096;

type Waiter = oneshot::Sender<Result<()>>;

pub(crate) struct Flusher {
    /// `None` only while dropping.
    waiters: Option<mpsc::Sender<Waiter>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    /// Starts the flusher thread. Dropping the [`Flusher`] ends it.
    pub(crate) fn start(backend: Arc<dyn Backend>) -> Result<Flusher> {
        let (waiters, queue) = mpsc::channel(WAITERS);
        let thread = std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || run(&*backend, queue))
            .map_err(|e| Error::storage("starting the flusher thread", e))?;
        Ok(Flusher {
            waiters: Some(waiters),
            thread: Some(thread),
        })
    }

    pub(crate) async fn sync(&self) -> Result<()> {
        let (done, flushed) = oneshot::channel();
        let waiters = self.waiters.as_ref().ok_or(Error::Closing)?;
        waiters.send(done).await.map_err(|_| Error::Closing)?;
        flushed.await.map_err(|_| Error::Closing)?
    }
}

impl Drop for Flusher {
    /// Waits for the thread to let go of its handle on the engine, so the database is closed
    /// (and its lock released) when the store is.
    fn drop(&mut self) {
        self.waiters = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(backend: &dyn Backend, mut queue: mpsc::Receiver<Waiter>) {
    let mut batch = Vec::new();
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while let Ok(next) = queue.try_recv() {
            batch.push(next);
        }
        // The waiters report a failure; each of them must then not acknowledge.
        let started = std::time::Instant::now();
        let result = backend.flush();
        metrics::histogram!("switchyard_store_flush_seconds").record(started.elapsed());
        for waiter in batch.drain(..) {
            // A waiter that gave up (its task was cancelled) needs no answer.
            let _ = waiter.send(result.clone());
        }
    }
}
