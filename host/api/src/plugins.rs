//! `/api/plugins[/{name}]`: upload (validate, compile, store, hot-swap), list, inspect, set
//! capabilities and limits, delete.

use crate::AppState;
use crate::error::{ApiError, Result};
use crate::extract::{Checked, JsonBody, Scoped, UploadBody};
use crate::openapi::ErrorMessage;
use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use switchyard_plugins::{PluginInfo, SettingsPatch};

/// The list envelope, the same shape as an object listing.
#[derive(Serialize)]
pub(crate) struct PluginList {
    result: Vec<PluginInfo>,
    total: usize,
}

/// `PUT /api/plugins/{name}`: 201 with `Location` for a new plugin, 200 when it replaced one.
#[utoipa::path(put, path = "/api/plugins/{name}", tag = "plugins", params(("name" = String, Path, description = "The plugin's name: 1-64 of `A-Z a-z 0-9 - _ .`")),
    request_body(
        content((Vec<u8> = "application/wasm"), (Vec<u8> = "application/octet-stream")),
        description = "A component of the `switchyard:plugin` world, or a core module to wrap"
    ),
    responses(
        (status = 201, description = "Installed; the plugin's info", body = Value),
        (status = 200, description = "Replaced a plugin of that name; its info", body = Value),
        (status = 400, description = "Invalid name", body = ErrorMessage),
        (status = 413, description = "Over the upload limit", body = ErrorMessage),
        (status = 422, description = "Not a plugin of our world", body = ErrorMessage),
    ))]
pub(crate) async fn upload(
    Scoped(state): Scoped,
    Checked(Path(name)): Checked<Path<String>>,
    UploadBody(bytes): UploadBody,
) -> Result<impl IntoResponse> {
    let replaced = state.plugins.info(&state.tenant, &name).is_some();
    let location = format!("/api/plugins/{name}");
    let info = install(&state, name, bytes).await?;
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, [(header::LOCATION, location)], Json(info)))
}

/// `GET /api/plugins`: every plugin, by name.
#[utoipa::path(get, path = "/api/plugins", tag = "plugins",
    responses((status = 200, description = "`{result: [info...], total}`", body = Value)))]
pub(crate) async fn list(Scoped(state): Scoped) -> Json<PluginList> {
    let result = by_name(&state);
    Json(PluginList {
        total: result.len(),
        result,
    })
}

/// `GET /api/plugins/{name}`.
#[utoipa::path(get, path = "/api/plugins/{name}", tag = "plugins", params(("name" = String, Path, description = "The plugin's name: 1-64 of `A-Z a-z 0-9 - _ .`")),
    responses(
        (status = 200, description = "Size, sha256, world, kind, capabilities and limits", body = Value),
        (status = 404, description = "No such plugin", body = ErrorMessage),
    ))]
pub(crate) async fn info(
    Scoped(state): Scoped,
    Checked(Path(name)): Checked<Path<String>>,
) -> Result<Json<PluginInfo>> {
    state
        .plugins
        .info(&state.tenant, &name)
        .map(Json)
        .ok_or_else(|| no_such(&name))
}

/// `PATCH /api/plugins/{name}` with `{"capabilities": {...}, "limits": {...}}`: 200 info.
/// Capabilities are replaced whole; limits are merged, `null` going back to the default.
#[utoipa::path(patch, path = "/api/plugins/{name}", tag = "plugins", params(("name" = String, Path, description = "The plugin's name: 1-64 of `A-Z a-z 0-9 - _ .`")),
    request_body(content = Value, description = "`{\"capabilities\": {...}, \"limits\": {...}}`"),
    responses(
        (status = 200, description = "The plugin's info", body = Value),
        (status = 400, description = "Malformed body", body = ErrorMessage),
        (status = 404, description = "No such plugin", body = ErrorMessage),
        (status = 422, description = "Invalid capabilities or limits", body = ErrorMessage),
    ))]
pub(crate) async fn configure(
    Scoped(state): Scoped,
    Checked(Path(name)): Checked<Path<String>>,
    JsonBody(patch): JsonBody<SettingsPatch>,
) -> Result<Json<PluginInfo>> {
    Ok(Json(state.plugins.configure(
        &state.tenant,
        &name,
        patch,
    )?))
}

/// `DELETE /api/plugins/{name}`: 204.
#[utoipa::path(delete, path = "/api/plugins/{name}", tag = "plugins", params(("name" = String, Path, description = "The plugin's name: 1-64 of `A-Z a-z 0-9 - _ .`")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such plugin", body = ErrorMessage),
    ))]
pub(crate) async fn remove(
    Scoped(state): Scoped,
    Checked(Path(name)): Checked<Path<String>>,
) -> Result<StatusCode> {
    delete(&state, &name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every plugin, sorted by name.
pub(crate) fn by_name(state: &AppState) -> Vec<PluginInfo> {
    let mut plugins = state.plugins.list(&state.tenant);
    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    plugins
}

/// Validates, compiles, stores and loads plugin `name` (for the API and the admin UI).
pub(crate) async fn install(state: &AppState, name: String, bytes: Bytes) -> Result<PluginInfo> {
    let (plugins, tenant) = (state.plugins.clone(), state.tenant.clone());
    // Validation and compilation take CPU for a while; keep them off the async workers.
    let installed = tokio::task::spawn_blocking(move || plugins.install(&tenant, &name, &bytes));
    Ok(installed
        .await
        .map_err(|error| ApiError::internal("installing the plugin failed", error))??)
}

/// Deletes plugin `name`; 404 if there is none.
pub(crate) fn delete(state: &AppState, name: &str) -> Result<()> {
    if state.plugins.remove(&state.tenant, name)? {
        Ok(())
    } else {
        Err(no_such(name))
    }
}

fn no_such(name: &str) -> ApiError {
    ApiError::not_found(format!("no plugin named `{name}`"))
}
