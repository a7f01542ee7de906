//! Host bindings for the `switchyard:plugin` world, generated once from `wit/`.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    imports: { default: trappable },
    exports: { default: async },
});

pub(crate) use exports::switchyard::plugin::message_handler;
// Public: the other worlds' bindings (`earlier` below, `crate::hooks`, `crate::lifecycle`)
// reuse these interfaces.
pub use switchyard::plugin::{logging, messaging, objects, types};

/// Plugins built against 0.2.0: the same imports, and `handler` (the message without its
/// subscriber) where later ones export `message-handler`. Wasmtime matches their `@0.2.0`
/// names to these `@0.2.1` ones, as semver allows.
pub(crate) mod earlier {
    wasmtime::component::bindgen!({
        path: "../../wit",
        inline: "
            package switchyard:host;

            world earlier-plugin {
                import switchyard:plugin/objects@0.2.1;
                import switchyard:plugin/messaging@0.2.1;
                import switchyard:plugin/logging@0.2.1;
                export switchyard:plugin/handler@0.2.1;
            }
        ",
        imports: { default: trappable },
        exports: { default: async },
        with: {
            "switchyard:plugin/logging": crate::bindings::logging,
            "switchyard:plugin/messaging": crate::bindings::messaging,
            "switchyard:plugin/objects": crate::bindings::objects,
            "switchyard:plugin/types": crate::bindings::types,
        },
    });

    pub(crate) use exports::switchyard::plugin::handler;
}
