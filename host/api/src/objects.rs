//! `/api/objects/{Type}[/{id}]`: create, list, query, read, merge, replace and delete objects.
//!
//! Every route names the type, and an id of another type answers 404 just like an unknown id,
//! so `/api/objects/Order/{id}` can never read or change a `MQTTClient`. Store calls run on the
//! request task: sled serves them from its page cache and flushes in the background, so they do
//! not hold up the executor the way the CPU-heavy plugin compilation would.

use crate::AppState;
use crate::error::{ApiError, Result};
use crate::extract::{Checked, JsonBody};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::Value;
use switchyard_store::{Object, Page, Store};

/// `POST /api/objects/{Type}`: 201 with the new object and its `Location`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Checked(Path(type_name)): Checked<Path<String>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<impl IntoResponse> {
    let object = state.store.create(&type_name, json_object(body)?)?;
    let location = format!("/api/objects/{type_name}/{}", id_of(&object));
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(object),
    ))
}

/// `GET /api/objects/{Type}?prop=value&_sort=&_order=&_limit=&_offset=`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Checked(Path(type_name)): Checked<Path<String>>,
    Checked(Query(params)): Checked<Query<Vec<(String, String)>>>,
) -> Result<Json<Page>> {
    let query = switchyard_store::Query::from_params(
        params
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str())),
    )?;
    Ok(Json(state.store.query(&type_name, &query)?))
}

/// `POST /api/objects/{Type}/query` with `{filters, sort, order, limit, offset}`.
pub(crate) async fn query(
    State(state): State<AppState>,
    Checked(Path(type_name)): Checked<Path<String>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Page>> {
    let query = switchyard_store::Query::from_json(&body)?;
    Ok(Json(state.store.query(&type_name, &query)?))
}

/// `GET /api/objects/{Type}/{id}`.
pub(crate) async fn read(
    State(state): State<AppState>,
    Checked(Path((type_name, id))): Checked<Path<(String, String)>>,
) -> Result<Json<Object>> {
    Ok(Json(typed(&state.store, &type_name, &id)?))
}

/// `PATCH /api/objects/{Type}/{id}`: merges the body (`null` removes a property).
pub(crate) async fn merge(
    State(state): State<AppState>,
    Checked(Path((type_name, id))): Checked<Path<(String, String)>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Object>> {
    let patch = json_object(body)?;
    typed(&state.store, &type_name, &id)?;
    Ok(Json(state.store.update(&id, patch)?))
}

/// `PUT /api/objects/{Type}/{id}`: replaces every user property with the body.
pub(crate) async fn replace(
    State(state): State<AppState>,
    Checked(Path((type_name, id))): Checked<Path<(String, String)>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Object>> {
    let properties = json_object(body)?;
    typed(&state.store, &type_name, &id)?;
    Ok(Json(state.store.replace(&id, properties)?))
}

/// `DELETE /api/objects/{Type}/{id}`: 204.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Checked(Path((type_name, id))): Checked<Path<(String, String)>>,
) -> Result<StatusCode> {
    typed(&state.store, &type_name, &id)?;
    if state.store.delete(&id)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_such(&type_name, &id))
    }
}

/// The object `id` if it is of type `type_name`. The type cannot change after creation, so a
/// write that follows this check cannot land on an object of another type.
fn typed(store: &Store, type_name: &str, id: &str) -> Result<Object> {
    store
        .get(id)?
        .filter(|object| object.get("type").and_then(Value::as_str) == Some(type_name))
        .ok_or_else(|| no_such(type_name, id))
}

fn no_such(type_name: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("no {type_name} with id `{id}`"))
}

/// Object properties must be a JSON object; anything else is a malformed request.
fn json_object(body: Value) -> Result<Value> {
    if body.is_object() {
        Ok(body)
    } else {
        Err(ApiError::bad_request(format!(
            "the request body must be a JSON object of properties, not {}",
            kind(&body)
        )))
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn id_of(object: &Object) -> &str {
    object.get("id").and_then(Value::as_str).unwrap_or_default()
}
