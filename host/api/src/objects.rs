//! `/api/objects/{Type}[/{id}]`: create, list, query, read, merge, replace and delete objects.
//!
//! Every route names the type, and an id of another type answers 404 just like an unknown id,
//! so `/api/objects/Order/{id}` can never read or change a `MQTTClient`. Store calls run on the
//! request task: the engine serves them from its page cache, so they do not hold up the executor the
//! way the CPU-heavy plugin compilation would. A write answers only once it is on disk
//! ([`switchyard_store::Store::sync`], shared with concurrent writers).
//!
//! Every object carries a `version`, sent as its `ETag`; `If-Match` makes a write conditional
//! on it, and a stale one answers 409. The tenant's lifecycle hooks are asked about objects of
//! its own types ([`crate::lifecycle`]).

use crate::AppState;
use crate::error::{ApiError, Result};
use crate::extract::{Checked, IfMatch, JsonBody, Scoped};
use crate::lifecycle::{Hooked, data_of};
use crate::openapi::ErrorMessage;
use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use switchyard_lifecycle::Operation;
use switchyard_store::{Object, Page, Result as StoreResult, Txn};

/// `POST /api/objects/{Type}`: 201 with the new object and its `Location`, once it is on disk.
#[utoipa::path(post, path = "/api/objects/{type}", tag = "objects", params(("type" = String, Path, description = "The object type, e.g. `MQTTClient` or `Order`")),
    request_body(content = Value, description = "The object's properties"),
    responses(
        (status = 201, description = "The new object, with `id` and `version`", body = Value),
        (status = 400, description = "Malformed body or type name", body = ErrorMessage),
        (status = 422, description = "An invalid property", body = ErrorMessage),
    ))]
pub(crate) async fn create(
    Scoped(state): Scoped,
    Checked(Path(type_name)): Checked<Path<String>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<impl IntoResponse> {
    crate::tenants::admit(&state, &type_name)?;
    let body = json_object(body)?;
    let hooked = Hooked::before(&state, Operation::Create, &type_name, |request| {
        request.data = data_of(&body);
    })
    .await?;
    let data = hooked.data(body);
    let created = async {
        let object = state.store.create(&type_name, data)?;
        state.store.sync().await?;
        Ok(object)
    };
    let object = hooked.after(created.await, shown).await?;
    let location = format!("/api/objects/{type_name}/{}", id_of(&object));
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Versioned(object),
    ))
}

/// `GET /api/objects/{Type}?prop=value&_sort=&_order=&_limit=&_offset=`.
#[utoipa::path(get, path = "/api/objects/{type}", tag = "objects",
    params(("type" = String, Path, description = "The object type, e.g. `MQTTClient` or `Order`"),
        ("_sort" = Option<String>, Query, description = "Property to sort by"),
        ("_order" = Option<String>, Query, description = "`asc` or `desc`"),
        ("_limit" = Option<usize>, Query, description = "Page size"),
        ("_offset" = Option<usize>, Query, description = "Objects to skip"),
    ),
    responses(
        (status = 200, description = "`{result: [object...], total}`; other query parameters are equality filters", body = Value),
        (status = 400, description = "A bad query parameter", body = ErrorMessage),
    ))]
pub(crate) async fn list(
    Scoped(state): Scoped,
    Checked(Path(type_name)): Checked<Path<String>>,
    Checked(Query(params)): Checked<Query<Vec<(String, String)>>>,
) -> Result<Json<Page>> {
    let query = switchyard_store::Query::from_params(
        params
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str())),
    )?;
    counted(&state, &type_name, query).await
}

/// `POST /api/objects/{Type}/query` with `{filters, sort, order, limit, offset}`.
#[utoipa::path(post, path = "/api/objects/{type}/query", tag = "objects", params(("type" = String, Path, description = "The object type, e.g. `MQTTClient` or `Order`")),
    request_body(content = Value, description = "`{filters: [{column, operator, value}], sort, order, limit, offset}`"),
    responses(
        (status = 200, description = "`{result: [object...], total}`", body = Value),
        (status = 400, description = "A malformed query", body = ErrorMessage),
    ))]
pub(crate) async fn query(
    Scoped(state): Scoped,
    Checked(Path(type_name)): Checked<Path<String>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Page>> {
    let query = switchyard_store::Query::from_json(&body)?;
    counted(&state, &type_name, query).await
}

/// Runs a query for a page the API answers: with `total` counting every match, and the
/// filters the tenant's hooks add.
async fn counted(
    state: &AppState,
    type_name: &str,
    query: switchyard_store::Query,
) -> Result<Json<Page>> {
    let query = switchyard_store::Query {
        total: true,
        ..query
    };
    let hooked = Hooked::before(state, Operation::Read, type_name, |request| {
        request.query = query.clone();
    })
    .await?;
    let query = hooked.query(query);
    let page = state.store.query(type_name, &query).map_err(ApiError::from);
    let shown = |page: &Page| serde_json::to_value(page).unwrap_or_default();
    Ok(Json(hooked.after(page, shown).await?))
}

/// `GET /api/objects/{Type}/{id}`, with the version as `ETag`.
#[utoipa::path(get, path = "/api/objects/{type}/{id}", tag = "objects", params(("type" = String, Path, description = "The object type, e.g. `MQTTClient` or `Order`"), ("id" = String, Path, description = "The object's id")),
    responses(
        (status = 200, description = "The object; its version as `ETag`", body = Value),
        (status = 404, description = "No such object of that type", body = ErrorMessage),
    ))]
pub(crate) async fn read(
    Scoped(state): Scoped,
    Checked(Path((type_name, id))): Checked<Path<(String, String)>>,
) -> Result<Versioned> {
    let hooked = Hooked::before(&state, Operation::Read, &type_name, |request| {
        request.record_id = Some(id.clone());
    })
    .await?;
    let within = hooked.within();
    let object = async {
        let object = (state.store.get(&id)?).filter(|o| is_of(o, &type_name) && within.matches(o));
        object.ok_or_else(|| no_such(&type_name, &id))
    };
    Ok(Versioned(hooked.after(object.await, shown).await?))
}

/// `PATCH /api/objects/{Type}/{id}`: merges the body (`null` removes a property).
#[utoipa::path(patch, path = "/api/objects/{type}/{id}", tag = "objects", params(("type" = String, Path, description = "The object type, e.g. `MQTTClient` or `Order`"), ("id" = String, Path, description = "The object's id"), ("If-Match" = Option<String>, Header, description = "`\"<version>\"`: write only that version (409 otherwise)")),
    request_body(content = Value, description = "Properties to merge; `null` removes one"),
    responses(
        (status = 200, description = "The object after the merge", body = Value),
        (status = 400, description = "Malformed body", body = ErrorMessage),
        (status = 404, description = "No such object of that type", body = ErrorMessage),
        (status = 409, description = "The object is not at the `If-Match` version", body = ErrorMessage),
        (status = 422, description = "An invalid property", body = ErrorMessage),
    ))]
pub(crate) async fn merge(
    Scoped(state): Scoped,
    Checked(Path((type_name, id))): Checked<Path<(String, String)>>,
    IfMatch(version): IfMatch,
    JsonBody(body): JsonBody<Value>,
) -> Result<Versioned> {
    updated(&state, (&type_name, &id), version, body, Txn::update).await
}

/// `PUT /api/objects/{Type}/{id}`: replaces every user property with the body.
#[utoipa::path(put, path = "/api/objects/{type}/{id}", tag = "objects", params(("type" = String, Path, description = "The object type, e.g. `MQTTClient` or `Order`"), ("id" = String, Path, description = "The object's id"), ("If-Match" = Option<String>, Header, description = "`\"<version>\"`: write only that version (409 otherwise)")),
    request_body(content = Value, description = "Every user property of the object"),
    responses(
        (status = 200, description = "The object after the replace", body = Value),
        (status = 400, description = "Malformed body", body = ErrorMessage),
        (status = 404, description = "No such object of that type", body = ErrorMessage),
        (status = 409, description = "The object is not at the `If-Match` version", body = ErrorMessage),
        (status = 422, description = "An invalid property", body = ErrorMessage),
    ))]
pub(crate) async fn replace(
    Scoped(state): Scoped,
    Checked(Path((type_name, id))): Checked<Path<(String, String)>>,
    IfMatch(version): IfMatch,
    JsonBody(body): JsonBody<Value>,
) -> Result<Versioned> {
    updated(&state, (&type_name, &id), version, body, Txn::replace).await
}

/// Writes `body` into the object with `op` (a merge or a replace), as the tenant's hooks let
/// it: they are asked about the update first and told how it went.
async fn updated(
    state: &AppState,
    (type_name, id): (&str, &str),
    version: Option<u64>,
    body: Value,
    op: fn(&mut Txn, &str, Value) -> StoreResult<Object>,
) -> Result<Versioned> {
    let body = json_object(body)?;
    let hooked = Hooked::before(state, Operation::Update, type_name, |request| {
        request.record_id = Some(id.to_owned());
        request.data = data_of(&body);
    })
    .await?;
    let body = hooked.data(body);
    let within = hooked.within();
    let object = write(state, (type_name, id), version, &within, |txn| {
        op(txn, id, body.clone())
    })
    .await;
    Ok(Versioned(hooked.after(object, shown).await?))
}

/// `DELETE /api/objects/{Type}/{id}`: 204.
#[utoipa::path(delete, path = "/api/objects/{type}/{id}", tag = "objects", params(("type" = String, Path, description = "The object type, e.g. `MQTTClient` or `Order`"), ("id" = String, Path, description = "The object's id"), ("If-Match" = Option<String>, Header, description = "`\"<version>\"`: write only that version (409 otherwise)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such object of that type", body = ErrorMessage),
        (status = 409, description = "The object is not at the `If-Match` version", body = ErrorMessage),
    ))]
pub(crate) async fn delete(
    Scoped(state): Scoped,
    Checked(Path((type_name, id))): Checked<Path<(String, String)>>,
    IfMatch(version): IfMatch,
) -> Result<StatusCode> {
    let hooked = Hooked::before(&state, Operation::Delete, &type_name, |request| {
        request.record_id = Some(id.clone());
    })
    .await?;
    let within = hooked.within();
    let deleted = write(&state, (&type_name, &id), version, &within, |txn| {
        txn.delete(&id)
    })
    .await;
    hooked
        .after(deleted, |_| serde_json::json!({ "id": id }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs `op` on the object `id` of type `type_name` (404 if there is none, or if it does not
/// pass the filters of `within`: a hook's) and answers once the write is on disk. With
/// `If-Match` the write applies only to that version (409 if the object moved on); without
/// it, a write that races with another one is retried on the latest version, so concurrent
/// merges of different properties all land.
pub(crate) async fn write<T>(
    state: &AppState,
    (type_name, id): (&str, &str),
    version: Option<u64>,
    within: &switchyard_store::Query,
    mut op: impl FnMut(&mut Txn) -> StoreResult<T>,
) -> Result<T> {
    let out = state
        .store
        .write_object(type_name, id, version, within, &mut op)
        .await?;
    state.store.sync().await?;
    Ok(out)
}

/// An object as the `after` hooks are told of it.
fn shown(object: &Object) -> Value {
    Value::Object(object.clone())
}

fn is_of(object: &Object, type_name: &str) -> bool {
    object.get("type").and_then(Value::as_str) == Some(type_name)
}

/// An object in a response, with its version as the `ETag` for a later `If-Match`.
pub(crate) struct Versioned(Object);

impl IntoResponse for Versioned {
    fn into_response(self) -> Response {
        let version = self.0.get("version").and_then(Value::as_u64).unwrap_or(0);
        let etag = format!("\"{version}\"");
        ([(header::ETAG, etag)], Json(self.0)).into_response()
    }
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

/// The id of a stored object (every stored object has one).
pub(crate) fn id_of(object: &Object) -> &str {
    object.get("id").and_then(Value::as_str).unwrap_or_default()
}
