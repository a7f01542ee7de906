//! How objects are laid out in sled: keys, encoding, ids and timestamps.
//!
//! One tree holds three key spaces: `o/<id>` maps to the object's JSON, `t/<type>/<id>` is
//! an empty index entry so a query scans only its type, and `x/<type>/...` holds the entries
//! of secondary indexes (see `index`). Ids are UUID v7, which sort by
//! creation time, so an index scan yields objects in creation order without sorting.

use crate::{Error, Object, Result};

/// The sled tree that holds objects, their type index and secondary index entries.
pub(crate) const OBJECTS_TREE: &str = "objects";
/// The sled tree that lists the declared secondary indexes.
pub(crate) const INDEXES_TREE: &str = "object-indexes";

pub(crate) fn object_key(id: &str) -> Vec<u8> {
    [b"o/", id.as_bytes()].concat()
}

/// Type names cannot contain `/`, so `t/<type>/` never prefixes another type's keys.
pub(crate) fn index_prefix(type_name: &str) -> Vec<u8> {
    [b"t/", type_name.as_bytes(), b"/"].concat()
}

pub(crate) fn index_key(type_name: &str, id: &str) -> Vec<u8> {
    [b"t/", type_name.as_bytes(), b"/", id.as_bytes()].concat()
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The current time as stored in `createdAt` / `updatedAt`.
pub(crate) fn now() -> String {
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
