//! The per-invocation host state: a WASI context with nothing in it but capped stdio and a
//! coarse clock, the invocation's write set, its queued publishes, its capabilities, and what
//! is left of its budgets.

use crate::capabilities::Capabilities;
use crate::limits::PluginLimits;
use crate::output::CappedOutput;
use crate::{Publish, SubscriptionChange};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchyard_store::Txn;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

/// Guests see time in whole milliseconds: enough for timestamps, too coarse for timing attacks.
const CLOCK_RESOLUTION: Duration = Duration::from_millis(1);

/// Who an invocation runs for; tags every log line it produces.
#[derive(Clone)]
pub(crate) struct Tag {
    pub tenant: Arc<str>,
    pub plugin: Arc<str>,
    pub subscriber: String,
    pub topic: String,
    /// Where its lines are kept for people to read, besides the server log.
    pub journal: Arc<crate::journal::Journal>,
}

impl Tag {
    /// The invocation, as its journal lines name it.
    pub(crate) fn source(&self) -> crate::LogSource<'_> {
        crate::LogSource {
            tenant: &self.tenant,
            plugin: &self.plugin,
            subscriber: &self.subscriber,
            topic: &self.topic,
        }
    }
}

/// A plugin's settings as every invocation of it needs them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub capabilities: Capabilities,
    pub limits: PluginLimits,
}

/// What is left of one invocation's budgets; each counts down to zero.
pub(crate) struct Budget {
    pub host_calls: u32,
    pub write_bytes: usize,
    pub read_bytes: usize,
    pub publish_bytes: usize,
    pub publishes: u32,
    pub log_bytes: usize,
    /// Set once a log line was cut short, so the marker is written once.
    pub log_truncated: bool,
}

impl Budget {
    /// The budgets of a call that handles `messages` messages: each message's, added up.
    fn of(limits: &PluginLimits, messages: u32) -> Budget {
        let bytes = |per: usize| per.saturating_mul(messages as usize);
        Budget {
            host_calls: limits.host_calls.saturating_mul(messages),
            write_bytes: bytes(limits.write_bytes),
            read_bytes: bytes(limits.read_bytes),
            publish_bytes: bytes(limits.publish_bytes),
            publishes: limits.publishes.saturating_mul(messages),
            log_bytes: bytes(limits.log_bytes),
            log_truncated: false,
        }
    }
}

/// Takes `amount` from `left`, or names the limit (`what`, out of `limit`) that it would break.
pub(crate) fn spend(
    left: &mut usize,
    amount: usize,
    what: &str,
    limit: usize,
) -> Result<(), String> {
    match left.checked_sub(amount) {
        Some(rest) => {
            *left = rest;
            Ok(())
        }
        None => Err(format!(
            "{what} limit: {amount} more bytes would go over the limit of {limit} bytes per \
             invocation"
        )),
    }
}

/// Linear memory within the plugin's limit; remembers whether the guest asked for more, so a
/// trap that follows can be blamed on the limit rather than reported as `unreachable`.
struct MemoryCap {
    max_bytes: usize,
    refused: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _: usize,
        desired: usize,
        _: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max_bytes;
        self.refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(&mut self, _: usize, _: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        // The instance pool bounds table sizes.
        Ok(true)
    }
}

/// Everything a guest's imports touch during one invocation.
pub(crate) struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    pub(crate) stdout: CappedOutput,
    pub(crate) stderr: CappedOutput,
    pub(crate) tag: Tag,
    pub(crate) settings: Arc<Settings>,
    /// The client the message came on: where the default capabilities let it publish.
    pub(crate) origin: String,
    pub(crate) writes: Txn,
    pub(crate) publishes: Vec<Publish>,
    pub(crate) subscriptions: Vec<SubscriptionChange>,
    pub(crate) budget: Budget,
    /// Set once a call was refused for a spent budget or a limit: a reused instance that
    /// tripped one is not kept.
    pub(crate) tripped: bool,
}

impl Sandbox {
    /// The state of a call that handles `messages` messages.
    pub(crate) fn new(
        tag: Tag,
        settings: Arc<Settings>,
        origin: String,
        messages: u32,
        mut writes: Txn,
    ) -> Sandbox {
        let limits = &settings.limits;
        let stdout = CappedOutput::new(limits.log_bytes);
        let stderr = CappedOutput::new(limits.log_bytes);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(CoarseWallClock)
            .monotonic_clock(CoarseMonotonicClock::default())
            .build();
        writes.limit_object_size(limits.object_bytes);
        Sandbox {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap {
                max_bytes: limits.memory_bytes(),
                refused: false,
            },
            stdout,
            stderr,
            tag,
            origin,
            writes,
            publishes: Vec::new(),
            subscriptions: Vec::new(),
            budget: Budget::of(limits, messages),
            settings,
            tripped: false,
        }
    }

    /// Readies a reused instance's state for its next call, of `messages` messages: a new write
    /// set, nothing queued, full budgets.
    pub(crate) fn renew(&mut self, topic: String, origin: String, messages: u32, mut writes: Txn) {
        writes.limit_object_size(self.settings.limits.object_bytes);
        self.writes = writes;
        self.tag.topic = topic;
        self.origin = origin;
        self.publishes.clear();
        self.subscriptions.clear();
        self.budget = Budget::of(&self.settings.limits, messages);
        self.memory.refused = false;
        self.tripped = false;
    }

    /// What the last call left, taken out of a sandbox that stays (a reused instance's); its
    /// write set is replaced by an empty one until [`Sandbox::renew`].
    pub(crate) fn take_effects(&mut self) -> crate::Effects {
        let empty = self.writes.another();
        crate::Effects {
            writes: std::mem::replace(&mut self.writes, empty),
            publishes: std::mem::take(&mut self.publishes),
            subscriptions: std::mem::take(&mut self.subscriptions),
        }
    }

    /// Whether this call hit a limit: refused memory, or a budget or limit that a call was
    /// refused for.
    pub(crate) fn hit_a_limit(&self) -> bool {
        self.tripped || self.memory.refused
    }

    /// Takes one host call from the budget; false once it is spent.
    pub(crate) fn charge(&mut self) -> bool {
        match self.budget.host_calls.checked_sub(1) {
            Some(left) => {
                self.budget.host_calls = left;
                true
            }
            None => {
                self.tripped = true;
                false
            }
        }
    }

    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.memory
    }

    /// Whether the guest was refused memory it asked for.
    pub(crate) fn hit_memory_limit(&self) -> bool {
        self.memory.refused
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct CoarseWallClock;

impl HostWallClock for CoarseWallClock {
    fn resolution(&self) -> Duration {
        CLOCK_RESOLUTION
    }

    fn now(&self) -> Duration {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Duration::from_millis(now.as_millis() as u64)
    }
}

struct CoarseMonotonicClock(std::time::Instant);

impl Default for CoarseMonotonicClock {
    fn default() -> Self {
        CoarseMonotonicClock(std::time::Instant::now())
    }
}

impl HostMonotonicClock for CoarseMonotonicClock {
    fn resolution(&self) -> u64 {
        CLOCK_RESOLUTION.as_nanos() as u64
    }

    fn now(&self) -> u64 {
        let millis = self.0.elapsed().as_millis() as u64;
        millis * 1_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batchs_budgets_are_its_messages_added_up() {
        let limits = PluginLimits::default();
        let one = Budget::of(&limits, 1);
        let three = Budget::of(&limits, 3);
        assert_eq!(one.host_calls, limits.host_calls);
        assert_eq!(three.host_calls, 3 * limits.host_calls);
        assert_eq!(three.write_bytes, 3 * limits.write_bytes);
        assert_eq!(three.read_bytes, 3 * limits.read_bytes);
        assert_eq!(three.publish_bytes, 3 * limits.publish_bytes);
        assert_eq!(three.publishes, 3 * limits.publishes);
        assert_eq!(three.log_bytes, 3 * limits.log_bytes);
        let huge = Budget::of(&limits, u32::MAX);
        assert_eq!(huge.host_calls, u32::MAX, "saturates instead of wrapping");
    }
}
