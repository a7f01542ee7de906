//! The per-invocation host state: a WASI context with nothing in it but captured stdio and a
//! coarse clock, the invocation's write set, its queued publishes, and its call budget.

use crate::{Publish, SubscriptionChange};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchyard_store::Txn;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

/// How much a guest may print to stdout or stderr in one invocation.
const STDIO_CAPACITY: usize = 64 * 1024;
/// Guests see time in whole milliseconds: enough for timestamps, too coarse for timing attacks.
const CLOCK_RESOLUTION: Duration = Duration::from_millis(1);

/// Who an invocation runs for; tags every log line it produces.
#[derive(Clone)]
pub(crate) struct Tag {
    pub plugin: Arc<str>,
    pub subscriber: String,
}

/// Everything a guest's imports touch during one invocation.
pub(crate) struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
    pub(crate) tag: Tag,
    pub(crate) writes: Txn,
    pub(crate) publishes: Vec<Publish>,
    pub(crate) subscriptions: Vec<SubscriptionChange>,
    calls_left: u32,
}

impl Sandbox {
    pub(crate) fn new(tag: Tag, writes: Txn, memory_bytes: usize, host_calls: u32) -> Sandbox {
        let stdout = MemoryOutputPipe::new(STDIO_CAPACITY);
        let stderr = MemoryOutputPipe::new(STDIO_CAPACITY);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(CoarseWallClock)
            .monotonic_clock(CoarseMonotonicClock::default())
            .build();
        Sandbox {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .trap_on_grow_failure(false)
                .build(),
            stdout,
            stderr,
            tag,
            writes,
            publishes: Vec::new(),
            subscriptions: Vec::new(),
            calls_left: host_calls,
        }
    }

    /// Takes one host call from the budget; false once it is spent.
    pub(crate) fn charge(&mut self) -> bool {
        match self.calls_left.checked_sub(1) {
            Some(left) => {
                self.calls_left = left;
                true
            }
            None => false,
        }
    }

    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limits
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
