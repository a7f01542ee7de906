//! Host bindings for the `switchyard:plugin` world, generated once from `wit/`.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    imports: { default: trappable },
    exports: { default: async },
});

pub(crate) use exports::switchyard::plugin::handler;
pub(crate) use switchyard::plugin::messaging;
// Public: the `broker-hooks` and `lifecycle-hooks` bindings (`crate::hooks`,
// `crate::lifecycle`) reuse these interfaces.
pub use switchyard::plugin::{logging, objects, types};
