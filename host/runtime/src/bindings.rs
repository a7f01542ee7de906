//! Host bindings for the `switchyard:plugin` world, generated once from `wit/`.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    imports: { default: trappable },
    exports: { default: async },
});

pub(crate) use exports::switchyard::plugin::handler;
pub(crate) use switchyard::plugin::{messaging, objects, types};
// Public: the `broker-hooks` bindings (`crate::hooks`) reuse this interface.
pub use switchyard::plugin::logging;
