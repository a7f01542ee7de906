//! Stored objects with serde types in and out. Writes made during one invocation are seen by
//! its own later reads and are committed only when the handler returns `Ok`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::bindings::switchyard::plugin::objects as wit;
use crate::{Result, json, query};

/// An object as the host stores it: `id`, `type`, `createdAt`, `updatedAt` and the free
/// properties, all at the top level. Read into your own struct instead when you know the shape.
pub type Object = serde_json::Map<String, serde_json::Value>;

/// Creates an object of `type_name` from `properties` (anything that serializes to a JSON
/// object) and returns its new id.
pub fn create(type_name: &str, properties: &impl Serialize) -> Result<String> {
    let json = json::to_string(properties, || format!("properties for a new `{type_name}`"))?;
    Ok(wit::create(type_name, &json)?)
}

/// Reads object `id` into `T` (use [`Object`] for all its properties); `None` if it does not
/// exist.
pub fn get<T: DeserializeOwned>(id: &str) -> Result<Option<T>> {
    read(id, "object")
}

/// [`get`] with `what` naming the object in errors.
pub(crate) fn read<T: DeserializeOwned>(id: &str, what: &str) -> Result<Option<T>> {
    wit::get(id)?
        .map(|found| json::parse(found.as_bytes(), || format!("{what} `{id}`")))
        .transpose()
}

/// One page of [`find_page`]: the matches within the query's limit and offset, and how many
/// objects match in all.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Page<T> {
    /// The objects of this page.
    pub result: Vec<T>,
    /// How many objects match the query, regardless of limit and offset.
    pub total: usize,
}

/// Finds objects of `type_name`. `query` is a [`Query`](crate::Query), a `serde_json::Value`
/// such as `json!({"sensorId": "t1"})` for equality, or anything else that serializes to the
/// query shape of `wit/plugin.wit`. Without a limit in the query the host returns at most the
/// plugin's default number of rows; a limit above the plugin's maximum is
/// [`Error::LimitExceeded`](crate::Error::LimitExceeded).
pub fn find<T: DeserializeOwned>(type_name: &str, query: &impl Serialize) -> Result<Vec<T>> {
    let query = json::to_string(query, || format!("query for `{type_name}`"))?;
    find_as(type_name, &query, "objects")
}

/// [`find`] that also counts every match: a [`Page`] with the objects and the total, for paging
/// with [`Query::limit`](crate::Query::limit) and [`Query::offset`](crate::Query::offset).
/// Counting scans every match, so it costs more than [`find`].
pub fn find_page<T: DeserializeOwned>(type_name: &str, query: &impl Serialize) -> Result<Page<T>> {
    let query = json::to_value(query, || format!("query for `{type_name}`"))?;
    find_as(
        type_name,
        &query::with_total(query).to_string(),
        "a page of objects",
    )
}

/// Runs a `find` and reads its answer into `R`; `what` names the answer in errors.
fn find_as<R: DeserializeOwned>(type_name: &str, query: &str, what: &str) -> Result<R> {
    let found = wit::find(type_name, query)?;
    json::parse(found.as_bytes(), || format!("{what} of type `{type_name}`"))
}

/// Merges `properties` into object `id`; a property set to `null` is removed.
pub fn update(id: &str, properties: &impl Serialize) -> Result<()> {
    let json = json::to_string(properties, || format!("properties for object `{id}`"))?;
    Ok(wit::update(id, &json)?)
}

/// Deletes object `id`; returns whether it existed.
pub fn delete(id: &str) -> Result<bool> {
    Ok(wit::delete(id)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_reads_the_hosts_answer() {
        let page: Page<Object> =
            json::parse(br#"{"result": [{"id": "a"}], "total": 7}"#, String::new).unwrap();
        assert_eq!(page.total, 7);
        assert_eq!(page.result[0]["id"], "a");
    }
}
