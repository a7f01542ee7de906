//! Plugins built against `switchyard:plugin@0.1.0` (the frozen WIT in `wit/legacy/0.1.0`):
//! their imports run the current host code, and errors they have no case for arrive as
//! `other`, prefixed with the case's name.

use crate::bindings::{logging, messaging, objects, types};
use crate::sandbox::Sandbox;

wasmtime::component::bindgen!({
    path: "../../wit/legacy/0.1.0",
    world: "plugin",
    imports: { default: trappable },
    exports: { default: async },
});

pub(crate) use exports::switchyard::plugin::handler;
use switchyard::plugin::{logging as old_logging, messaging as old_messaging};
use switchyard::plugin::{objects as old_objects, types as old_types};

type OldResult<T> = wasmtime::Result<Result<T, old_types::Error>>;

/// Converts a current result into the 0.1.0 shape.
fn old<T>(result: wasmtime::Result<Result<T, types::Error>>) -> OldResult<T> {
    use old_types::Error as Old;
    use types::Error as New;
    Ok(result?.map_err(|error| match error {
        New::NotFound(m) => Old::NotFound(m),
        New::Invalid(m) => Old::Invalid(m),
        New::LimitExceeded(m) => Old::LimitExceeded(m),
        New::Other(m) => Old::Other(m),
        New::Denied(m) => Old::Other(format!("denied: {m}")),
    }))
}

impl old_types::Host for Sandbox {}

impl old_objects::Host for Sandbox {
    fn create(&mut self, type_name: String, properties: String) -> OldResult<String> {
        old(objects::Host::create(self, type_name, properties))
    }

    fn get(&mut self, id: String) -> OldResult<Option<String>> {
        old(objects::Host::get(self, id))
    }

    fn find(&mut self, type_name: String, query: String) -> OldResult<String> {
        old(objects::Host::find(self, type_name, query))
    }

    fn update(&mut self, id: String, properties: String) -> OldResult<()> {
        old(objects::Host::update(self, id, properties))
    }

    fn delete(&mut self, id: String) -> OldResult<bool> {
        old(objects::Host::delete(self, id))
    }
}

impl old_messaging::Host for Sandbox {
    fn publish(&mut self, client: String, topic: String, payload: Vec<u8>) -> OldResult<()> {
        old(messaging::Host::publish(self, client, topic, payload))
    }

    fn subscribe(&mut self, client: String, topic: String) -> OldResult<()> {
        old(messaging::Host::subscribe(self, client, topic))
    }

    fn unsubscribe(&mut self, client: String, topic: String) -> OldResult<()> {
        old(messaging::Host::unsubscribe(self, client, topic))
    }
}

impl old_logging::Host for Sandbox {
    fn log(&mut self, level: old_logging::Level, message: String) -> wasmtime::Result<()> {
        use logging::Level as New;
        use old_logging::Level as Old;
        let level = match level {
            Old::Trace => New::Trace,
            Old::Debug => New::Debug,
            Old::Info => New::Info,
            Old::Warn => New::Warn,
            Old::Error => New::Error,
        };
        logging::Host::log(self, level, message)
    }
}
