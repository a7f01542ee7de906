//! Test fixture, not an example: a plugin built against the frozen `switchyard:plugin@0.1.0`
//! contract (`wit/legacy/0.1.0`), so the host's tests can check that plugins built before 0.2.0
//! still load and run. It binds the WIT with `wit-bindgen` itself: the SDK binds a later one.
//!
//! On every message it tries to create an `MQTTClient` (a built-in type no plugin may write),
//! then creates `LegacyRecord {topic, payload, evil, evilError}` and returns ok:
//!
//! - `payload`: the message payload as UTF-8 (invalid bytes replaced by U+FFFD);
//! - `evil`: the 0.1.0 error case the `MQTTClient` create got (`"not-found"`, `"invalid"`,
//!   `"limit-exceeded"` or `"other"`; 0.1.0 has no `denied`, so the host reports a capability
//!   refusal as `"other"`), or `"ok"` if the create succeeded;
//! - `evilError`: that error's text (left out when `evil` is `"ok"`).
//!
//! If storing the record fails, the handler returns that error as its reason.

use serde_json::{Map, Value, json};

wit_bindgen::generate!({
    path: "../../wit/legacy/0.1.0",
    world: "plugin",
});

use exports::switchyard::plugin::handler::Guest;
use switchyard::plugin::objects;
use switchyard::plugin::types::{Error, Message};

struct Legacy;

impl Guest for Legacy {
    fn handle(message: Message) -> Result<(), String> {
        let evil = objects::create(
            "MQTTClient",
            r#"{"name":"legacy-evil","mainBrokerURL":"mqtt://127.0.0.1:1"}"#,
        );
        let mut record = Map::new();
        record.insert("topic".into(), json!(message.topic));
        record.insert(
            "payload".into(),
            json!(String::from_utf8_lossy(&message.payload)),
        );
        match evil {
            Ok(_) => {
                record.insert("evil".into(), json!("ok"));
            }
            Err(error) => {
                let (case, text) = describe(error);
                record.insert("evil".into(), json!(case));
                record.insert("evilError".into(), json!(text));
            }
        }
        objects::create("LegacyRecord", &Value::Object(record).to_string())
            .map(drop)
            .map_err(|error| {
                let (case, text) = describe(error);
                format!("storing the LegacyRecord failed: {case}: {text}")
            })
    }
}

/// The 0.1.0 error's case name and text.
fn describe(error: Error) -> (&'static str, String) {
    match error {
        Error::NotFound(text) => ("not-found", text),
        Error::Invalid(text) => ("invalid", text),
        Error::LimitExceeded(text) => ("limit-exceeded", text),
        Error::Other(text) => ("other", text),
    }
}

export!(Legacy);
