//! The shared wasmtime engine: pooling allocator, epoch interruption, and the ticker thread
//! that drives epochs so a runaway guest is stopped at its deadline.

use crate::Limits;
use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; the resolution of every wall-time limit.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// Per slot: a Rust plugin's 1 MiB stack and its first heap pages.
const KEEP_RESIDENT: usize = 2 << 20;
const TABLE_KEEP_RESIDENT: usize = 64 << 10;
const WARM_SLOTS: u32 = 16;

/// Builds the engine every plugin is compiled and run with.
pub(crate) fn build(limits: &Limits) -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(limits.max_instances)
        .total_core_instances(limits.max_instances * 4)
        .total_memories(limits.max_instances * 2)
        .total_tables(limits.max_instances * 4)
        .total_stacks(limits.max_instances)
        .max_memory_size(limits.max_memory_mb << 20)
        // A slot handed back keeps this much of its memory (and tables) mapped and is reset
        // in place instead of decommitted: the next instance in the slot starts without page
        // faults, madvise calls and the TLB shootdowns they cause on every core. Measured
        // with `bench/` (MQTT forwarder, 8 subscribers): 1,629 msg/s decommitting every
        // slot, 3,098 keeping 2 MiB, 4,017 with `pagemap_scan` on top.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        // Where the kernel can say which kept pages were written (Linux 6.7+), only those
        // are reset, instead of zeroing all that is kept.
        .pagemap_scan(Enabled::Auto)
        // Slots beyond these are decommitted when freed, so what stays resident after a burst
        // of concurrent invocations is bounded (16 × 2 MiB), not the whole pool's.
        .max_unused_warm_slots(WARM_SLOTS);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(anyhow::Error::from)
}

/// Advances the engine's epoch every [`TICK`] until the engine is dropped everywhere else.
pub(crate) fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("switchyard-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .expect("spawning the epoch thread");
}
