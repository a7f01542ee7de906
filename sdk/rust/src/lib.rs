//! Write Switchyard message callbacks in Rust.
//!
//! A plugin is a WebAssembly component that handles one message at a time. Switchyard runs it
//! in a fresh sandbox for every message and every subscriber whose topic matches; the plugin
//! reads and writes stored objects, publishes messages and logs through this crate, which hides
//! the generated bindings of `wit/plugin.wit` behind serde types. Writes and publishes of one
//! invocation take effect only when the handler returns `Ok`.
//!
//! # Example
//!
//! `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "recorder"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! switchyard-sdk = { path = "../../sdk/rust" }
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! The crate re-exports [`serde_json`], so a plugin can use `switchyard_sdk::serde_json`
//! (for example its `json!` macro) without depending on it.
//!
//! `src/lib.rs`:
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use switchyard_sdk::{Message, Query, Result, messaging, objects};
//!
//! #[derive(Deserialize, Serialize)]
//! #[serde(rename_all = "camelCase")]
//! struct Reading {
//!     sensor_id: String,
//!     value: f64,
//! }
//!
//! /// Settings read from the subscriber object, so each subscriber can set its own.
//! #[derive(Deserialize)]
//! struct Settings {
//!     #[serde(default = "default_threshold")]
//!     threshold: f64,
//! }
//!
//! fn default_threshold() -> f64 {
//!     30.0
//! }
//!
//! fn handle(msg: Message) -> Result<()> {
//!     let reading: Reading = msg.json()?;
//!     let id = objects::create("Reading", &reading)?;
//!     switchyard_sdk::log!(info, "stored reading {id} from {}", msg.topic);
//!
//!     let settings: Settings = msg.subscriber_as()?;
//!     if reading.value > settings.threshold {
//!         let topic = format!("alerts/{}", reading.sensor_id);
//!         messaging::publish_json(&msg.client_id, &topic, &reading)?;
//!     }
//!
//!     let hot: Vec<Reading> = objects::find(
//!         "Reading",
//!         &Query::new().eq("sensorId", reading.sensor_id.as_str()).gt("value", 30),
//!     )?;
//!     switchyard_sdk::log::debug(format!("{} hot readings so far", hot.len()));
//!     Ok(())
//! }
//!
//! switchyard_sdk::handler!(handle);
//! ```
//!
//! Build it into a component and upload it:
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2
//! curl -X PUT -H "Authorization: Bearer $TOKEN" -H 'content-type: application/wasm' \
//!   --data-binary @target/wasm32-wasip2/release/recorder.wasm \
//!   localhost:8080/api/plugins/recorder
//! ```
//!
//! A handler's `Err` is recorded by the host as the invocation's failure (its `Display` text);
//! a panic traps the instance, which the host treats the same way. Host calls fail with an
//! [`Error`] whose [`kind`](Error::kind) says why: for example `denied` when the plugin's
//! capabilities do not allow the call (such as writing a built-in type like `MQTTClient`) and
//! `limit-exceeded` when the invocation used up one of its limits.
//!
//! The crate binds version 0.2.1 of the `switchyard:plugin` contract, in which the subscriber
//! object comes with each message ([`Message::subscriber_as`] reads no more). Plugins that decide for
//! the embedded MQTT broker instead (the `broker-hooks` world) use [`hooks`]; a tenant's
//! lifecycle hooks (the `lifecycle-hooks` world) use [`lifecycle`].

mod error;
pub mod hooks;
mod json;
pub mod lifecycle;
pub mod log;
mod message;
pub mod messaging;
pub mod objects;
mod query;

pub use error::{Error, Result};
pub use message::Message;
pub use objects::{Object, Page};
pub use query::Query;
/// The serde_json this crate uses, so a plugin can write `switchyard_sdk::serde_json::json!`
/// without depending on serde_json itself.
pub use serde_json;

/// Bindings generated from `wit/plugin.wit`: public for [`handler!`] to expand in the plugin's
/// crate, and for test fixtures that must make calls the typed API cannot express.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "batch-plugin",
        pub_export_macro: true,
        default_bindings_module: "switchyard_sdk::bindings",
    });
}

/// What [`handler!`] expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::export;
    pub use crate::bindings::exports::switchyard::plugin::batch_handler::Guest as BatchGuest;
    pub use crate::bindings::exports::switchyard::plugin::message_handler::Guest;
    pub use crate::bindings::switchyard::plugin::types::Message as WitMessage;

    /// Runs `handler` on a message from the host, with the subscriber object it came with, and
    /// turns its error into the WIT `err`.
    pub fn run(
        handler: impl FnOnce(crate::Message) -> crate::Result<()>,
        message: WitMessage,
        subscriber: Option<String>,
    ) -> Result<(), String> {
        handler(crate::Message::new(message, subscriber)).map_err(|e| e.to_string())
    }

    /// Runs `handler` on a batch of messages from the host, in order, and stops at the first
    /// error: the host then runs each message of the batch again alone.
    pub fn run_batch(
        handler: impl Fn(crate::Message) -> crate::Result<()>,
        messages: Vec<WitMessage>,
        subscriber: Option<String>,
    ) -> Result<(), String> {
        for message in messages {
            let topic = message.topic.clone();
            run(&handler, message, subscriber.clone())
                .map_err(|e| format!("a message on `{topic}`: {e}"))?;
        }
        Ok(())
    }
}

/// Exports `fn(Message) -> switchyard_sdk::Result<()>` as the plugin's message handler, and as
/// its batch handler, which runs it on each message of a batch in turn (the host hands batches
/// only to plugins whose `limits.batch` asks for them). Use it once per plugin crate:
///
/// ```no_run
/// fn handle(msg: switchyard_sdk::Message) -> switchyard_sdk::Result<()> {
///     switchyard_sdk::log::info(format!("got {} bytes on {}", msg.payload.len(), msg.topic));
///     Ok(())
/// }
///
/// switchyard_sdk::handler!(handle);
/// ```
#[macro_export]
macro_rules! handler {
    ($handler:path) => {
        const _: () = {
            struct SwitchyardHandler;

            impl $crate::__private::Guest for SwitchyardHandler {
                fn handle(
                    message: $crate::__private::WitMessage,
                    subscriber: ::core::option::Option<::std::string::String>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::run($handler, message, subscriber)
                }
            }

            impl $crate::__private::BatchGuest for SwitchyardHandler {
                fn handle_batch(
                    messages: ::std::vec::Vec<$crate::__private::WitMessage>,
                    subscriber: ::core::option::Option<::std::string::String>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::run_batch($handler, messages, subscriber)
                }
            }

    $crate::__private::export!(SwitchyardHandler with_types_in $crate::bindings);
        };
    };
}

/// Logs a formatted line at a level: `log!(info, "stored {id}")`; the level is one of
/// `trace`, `debug`, `info`, `warn`, `error`.
#[macro_export]
macro_rules! log {
    ($level:ident, $($arg:tt)+) => {
        $crate::log::$level(::std::format!($($arg)+))
    };
}

#[cfg(test)]
mod tests {
    use crate::__private::{WitMessage, run_batch};
    use std::cell::RefCell;

    fn wit_message(topic: &str, payload: &str) -> WitMessage {
        WitMessage {
            topic: topic.into(),
            payload: payload.into(),
            client_id: "c".into(),
            subscriber_id: "s".into(),
            key: None,
            headers: Vec::new(),
            timestamp_ms: 0,
        }
    }

    #[test]
    fn a_batch_runs_the_handler_on_each_message_in_order_and_stops_at_the_first_error() {
        let seen = RefCell::new(Vec::new());
        let handler = |msg: crate::Message| {
            let text = msg.text()?.to_owned();
            let threshold: serde_json::Value = msg.subscriber_as()?;
            seen.borrow_mut().push(format!("{text}@{}", threshold["threshold"]));
            match text.as_str() {
                "bad" => Err(crate::Error::other("bad reading")),
                _ => Ok(()),
            }
        };
        let subscriber = Some(r#"{"id":"s","threshold":20}"#.to_owned());
        let batch = ["a", "b", "bad", "c"].map(|p| wit_message(&format!("t/{p}"), p));
        let error = run_batch(handler, batch.to_vec(), subscriber).unwrap_err();
        assert_eq!(*seen.borrow(), ["a@20", "b@20", "bad@20"]);
        assert!(error.starts_with("a message on `t/bad`: "), "{error}");
        assert!(error.contains("bad reading"), "{error}");
    }
}
