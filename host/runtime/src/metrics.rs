//! What each plugin's invocations did, for `/metrics`: counts by outcome and a duration
//! histogram. The handles are made once per loaded plugin, so an invocation only bumps atomics.

use crate::InvokeError;
use metrics::{Counter, Histogram, counter, histogram};
use std::time::Duration;

pub(crate) struct PluginMetrics {
    ok: Counter,
    failed: Counter,
    timed_out: Counter,
    duration: Histogram,
}

impl PluginMetrics {
    pub(crate) fn new(tenant: &str, plugin: &str) -> PluginMetrics {
        let labels = [("tenant", tenant.to_owned()), ("plugin", plugin.to_owned())];
        let outcome = |outcome: &'static str| {
            let mut labels = labels.to_vec();
            labels.push(("outcome", outcome.to_owned()));
            counter!("switchyard_invocations_total", &labels)
        };
        PluginMetrics {
            ok: outcome("ok"),
            failed: outcome("failed"),
            timed_out: outcome("timeout"),
            duration: histogram!("switchyard_invocation_seconds", &labels),
        }
    }

    /// Counts an invocation that ended in `error`, or ok.
    pub(crate) fn record(&self, error: Option<&InvokeError>, took: Duration) {
        let counter = match error {
            None => &self.ok,
            Some(InvokeError::Timeout(_) | InvokeError::TimeoutBlocked(_)) => &self.timed_out,
            Some(_) => &self.failed,
        };
        counter.increment(1);
        self.duration.record(took);
    }
}
