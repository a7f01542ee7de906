//! The shared wasmtime engine: pooling allocator, epoch interruption, and the ticker thread
//! that drives epochs so a runaway guest is stopped at its deadline.

use crate::Limits;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; the resolution of every wall-time limit.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// Builds the engine every plugin is compiled and run with.
pub(crate) fn build(limits: &Limits) -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(limits.max_instances)
        .total_core_instances(limits.max_instances * 4)
        .total_memories(limits.max_instances * 2)
        .total_tables(limits.max_instances * 4)
        .total_stacks(limits.max_instances)
        .max_memory_size(limits.max_memory_mb << 20);

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
