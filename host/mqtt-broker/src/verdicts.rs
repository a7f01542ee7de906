//! A connection's hook decisions: each filter and topic is put to the hooks once and the answer
//! kept for the rest of the connection (at most [`KEPT`] of them), so a device's steady stream
//! costs the hooks nothing. Without hooks, or for a superuser, every verdict is
//! [`Verdict::Ignore`]: the device's own filters decide.

use crate::access::{HookDevice, Hooks, Identity, Verdict};
use crate::router::BoxFuture;
use parking_lot::Mutex;
use rumqttd::protocol::QoS;
use std::collections::HashMap;
use std::sync::Arc;

/// Decisions kept per connection; past this the oldest are forgotten (all at once).
const KEPT: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Asked {
    Subscribe,
    Publish,
}

type Kept = Arc<Mutex<HashMap<(Asked, String), Verdict>>>;

pub(crate) struct Verdicts {
    hooks: Option<Arc<dyn Hooks>>,
    device: HookDevice,
    kept: Kept,
}

fn keep(kept: &Kept, key: (Asked, String), verdict: Verdict) {
    let mut kept = kept.lock();
    if kept.len() >= KEPT {
        kept.clear();
    }
    kept.insert(key, verdict);
}

impl Verdicts {
    pub fn new(hooks: Option<&Arc<dyn Hooks>>, identity: &Identity, client_id: &str) -> Verdicts {
        Verdicts {
            hooks: hooks.filter(|_| identity.hooked).cloned(),
            device: identity.hook_device(client_id),
            kept: Kept::default(),
        }
    }

    /// Whether there are hooks to ask.
    pub fn asks(&self) -> bool {
        self.hooks.is_some()
    }

    /// The verdict on publishing to `topic`, or, the first time, the wait while the hooks are
    /// asked (after which it is kept).
    pub fn publish(&self, topic: &str, qos: QoS) -> Result<Verdict, BoxFuture<()>> {
        let Some(hooks) = &self.hooks else {
            return Ok(Verdict::Ignore);
        };
        let key = (Asked::Publish, topic.to_owned());
        if let Some(verdict) = self.kept.lock().get(&key) {
            return Ok(*verdict);
        }
        let asked = hooks.publish(self.device.clone(), topic.to_owned(), qos);
        let kept = self.kept.clone();
        Err(Box::pin(async move { keep(&kept, key, asked.await) }))
    }

    /// The verdicts on subscribing to `filters`, in order, asking the hooks what is not kept.
    pub fn subscribe(&self, filters: Vec<(String, QoS)>) -> BoxFuture<Vec<Verdict>> {
        let Some(hooks) = &self.hooks else {
            return Box::pin(std::future::ready(vec![Verdict::Ignore; filters.len()]));
        };
        let asks: Vec<BoxFuture<Verdict>> = (filters.into_iter())
            .map(|(filter, qos)| {
                let key = (Asked::Subscribe, filter.clone());
                if let Some(verdict) = self.kept.lock().get(&key) {
                    return Box::pin(std::future::ready(*verdict)) as BoxFuture<Verdict>;
                }
                let asked = hooks.subscribe(self.device.clone(), filter, qos);
                let kept = self.kept.clone();
                Box::pin(async move {
                    let verdict = asked.await;
                    keep(&kept, key, verdict);
                    verdict
                })
            })
            .collect();
        Box::pin(futures::future::join_all(asks))
    }
}
