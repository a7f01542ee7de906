//! The background tasks of one broker connection and the signal that stops them, so every
//! broker crate stops its connection the same way: signal, then wait for each task to end.

use parking_lot::Mutex;
use std::future::Future;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Tasks {
    stop: watch::Sender<bool>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Default for Tasks {
    fn default() -> Tasks {
        Tasks {
            stop: watch::Sender::new(false),
            handles: Mutex::default(),
        }
    }
}

impl Tasks {
    /// A receiver that turns `true` when the tasks are to stop; tasks wait on it with
    /// `wait_for(|s| *s)`.
    pub fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        self.handles.lock().push(handle);
    }

    /// Signals the stop and waits until every task has ended.
    pub async fn stop(&self) {
        self.stop.send_replace(true);
        let handles: Vec<_> = self.handles.lock().drain(..).collect();
        for handle in handles {
            let _ = handle.await;
        }
    }
}
