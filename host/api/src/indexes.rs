//! `/api/indexes`: secondary indexes on object properties, which make filtered queries
//! (REST lists, `POST .../query`, a plugin's `find`) scan only the matching objects.

use crate::error::{ApiError, Result};
use crate::extract::{Checked, Scoped};
use crate::openapi::ErrorMessage;
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// `GET /api/indexes`: every declared index.
#[utoipa::path(get, path = "/api/indexes", tag = "indexes",
    responses((status = 200, description = "`{result: [{type, property}...], total}`", body = Value)))]
pub(crate) async fn list(Scoped(state): Scoped) -> Json<Value> {
    let indexes = state.store.indexes();
    let result: Vec<Value> = (indexes.iter())
        .map(|(type_name, property)| json!({"type": type_name, "property": property}))
        .collect();
    Json(json!({"result": result, "total": result.len()}))
}

/// `PUT /api/indexes/{type}/{property}`: declares the index and indexes what is stored (201
/// with how many objects), or 200 if it exists.
#[utoipa::path(put, path = "/api/indexes/{type}/{property}", tag = "indexes", params(("type" = String, Path, description = "The object type"), ("property" = String, Path, description = "The property")),
    responses(
        (status = 201, description = "Declared; `{type, property, indexed: n}`", body = Value),
        (status = 200, description = "It existed", body = Value),
        (status = 400, description = "A bad type name", body = ErrorMessage),
        (status = 422, description = "A property that cannot be indexed (a secret)", body = ErrorMessage),
    ))]
pub(crate) async fn create(
    Scoped(state): Scoped,
    Checked(Path((type_name, property))): Checked<Path<(String, String)>>,
) -> Result<impl IntoResponse> {
    let store = state.store.clone();
    let (t, p) = (type_name.clone(), property.clone());
    // Indexing what is stored is a scan of the type: off the async workers.
    let indexed = tokio::task::spawn_blocking(move || store.create_index(&t, &p))
        .await
        .map_err(|error| ApiError::internal("creating the index failed", error))??;
    state.store.sync().await?;
    let body = json!({"type": type_name, "property": property, "indexed": indexed});
    let status = match indexed {
        Some(_) => StatusCode::CREATED,
        None => StatusCode::OK,
    };
    Ok((status, Json(body)))
}

/// `DELETE /api/indexes/{type}/{property}`: 204, or 404 if there is no such index.
#[utoipa::path(delete, path = "/api/indexes/{type}/{property}", tag = "indexes", params(("type" = String, Path, description = "The object type"), ("property" = String, Path, description = "The property")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such index", body = ErrorMessage),
    ))]
pub(crate) async fn remove(
    Scoped(state): Scoped,
    Checked(Path((type_name, property))): Checked<Path<(String, String)>>,
) -> Result<StatusCode> {
    let store = state.store.clone();
    let (t, p) = (type_name.clone(), property.clone());
    let removed = tokio::task::spawn_blocking(move || store.drop_index(&t, &p))
        .await
        .map_err(|error| ApiError::internal("removing the index failed", error))??;
    state.store.sync().await?;
    match removed {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::not_found(format!(
            "no index on {type_name}.{property}"
        ))),
    }
}
