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
    pub(crate) fn new(plugin: &str) -> PluginMetrics {
        let outcome = |outcome: &'static str| {
            let plugin = plugin.to_owned();
            counter!("switchyard_invocations_total", "plugin" => plugin, "outcome" => outcome)
        };
        PluginMetrics {
            ok: outcome("ok"),
            failed: outcome("failed"),
            timed_out: outcome("timeout"),
            duration: histogram!("switchyard_invocation_seconds", "plugin" => plugin.to_owned()),
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
