//! How objects are recorded: ids, timestamps and the JSON encoding every engine stores.
//!
//! Ids are UUID v7, which sort by creation time, so a scan in id order yields objects in
//! creation order without sorting.

use crate::{Error, Object, Result};

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The current time as stored in `createdAt` / `updatedAt`: RFC 3339, UTC, milliseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn encode(object: &Object) -> Result<Vec<u8>> {
    serde_json::to_vec(object).map_err(|e| Error::Corrupt(format!("cannot encode object: {e}")))
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Object> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::Corrupt(format!("object is not a JSON object: {e}")))
}

/// The `type` of a stored object; every stored object has one.
pub(crate) fn type_of(object: &Object) -> &str {
    str_prop(object, "type")
}

/// The `id` of a stored object; every stored object has one.
pub(crate) fn id_of(object: &Object) -> &str {
    str_prop(object, "id")
}

fn str_prop<'a>(object: &'a Object, prop: &str) -> &'a str {
    object
        .get(prop)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
}
