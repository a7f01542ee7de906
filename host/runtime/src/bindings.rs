//! Host bindings for the `switchyard:plugin` world, generated once from `wit/`.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    imports: { default: trappable },
    exports: { default: async },
});

pub(crate) use exports::switchyard::plugin::handler;
pub(crate) use switchyard::plugin::{logging, messaging, objects, types};
