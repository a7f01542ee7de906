//! Host bindings for the `switchyard:plugin` world, generated once from `wit/`.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    imports: { default: trappable },
    exports: { default: async },
});

// Public: the other worlds' bindings (`batch` and `earlier` below, `crate::hooks`,
// `crate::lifecycle`) reuse these interfaces.
pub use switchyard::plugin::{logging, messaging, objects, types};

/// Bindings of another world whose imports are the interfaces above: `$world` is the
/// bindgen option that names it (`world: ...` or `inline: ...`).
macro_rules! over_these_imports {
    ($($world:tt)+) => {
        wasmtime::component::bindgen!({
            path: "../../wit",
            $($world)+,
            imports: { default: trappable },
            exports: { default: async },
            with: {
                "switchyard:plugin/logging": crate::bindings::logging,
                "switchyard:plugin/messaging": crate::bindings::messaging,
                "switchyard:plugin/objects": crate::bindings::objects,
                "switchyard:plugin/types": crate::bindings::types,
            },
        });
    };
}

/// Plugins that also take a batch of messages at once (`batch-handler`).
pub(crate) mod batch {
    over_these_imports!(world: "batch-plugin");
}

/// Plugins built against 0.2.0: the same imports, and `handler` (the message without its
/// subscriber) where later ones export `message-handler`. Wasmtime matches their `@0.2.0`
/// names to these `@0.2.1` ones, as semver allows.
pub(crate) mod earlier {
    over_these_imports!(inline: "
        package switchyard:host;

        world earlier-plugin {
            import switchyard:plugin/objects@0.2.1;
            import switchyard:plugin/messaging@0.2.1;
            import switchyard:plugin/logging@0.2.1;
            export switchyard:plugin/handler@0.2.1;
        }
    ");
}
