//! `/api/plugins[/{name}]`: upload (validate, compile, store, hot-swap), list, inspect, set
//! capabilities and limits, delete.

use crate::AppState;
use crate::error::{ApiError, Result};
use crate::extract::{Checked, JsonBody, UploadBody};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use switchyard_runtime::{PluginInfo, SettingsPatch};

/// The list envelope, the same shape as an object listing.
#[derive(Serialize)]
pub(crate) struct PluginList {
    result: Vec<PluginInfo>,
    total: usize,
}

/// `PUT /api/plugins/{name}`: 201 with `Location` for a new plugin, 200 when it replaced one.
pub(crate) async fn upload(
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
    UploadBody(bytes): UploadBody,
) -> Result<impl IntoResponse> {
    let replaced = state.runtime.info(&name).is_some();
    let runtime = state.runtime.clone();
    let location = format!("/api/plugins/{name}");
    // Validation and compilation take CPU for a while; keep them off the async workers.
    let info = tokio::task::spawn_blocking(move || runtime.install(&name, &bytes))
        .await
        .map_err(|error| ApiError::internal("installing the plugin failed", error))??;
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, [(header::LOCATION, location)], Json(info)))
}

/// `GET /api/plugins`: every plugin, by name.
pub(crate) async fn list(State(state): State<AppState>) -> Json<PluginList> {
    let mut result = state.runtime.list();
    result.sort_by(|a, b| a.name.cmp(&b.name));
    Json(PluginList {
        total: result.len(),
        result,
    })
}

/// `GET /api/plugins/{name}`.
pub(crate) async fn info(
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
) -> Result<Json<PluginInfo>> {
    state
        .runtime
        .info(&name)
        .map(Json)
        .ok_or_else(|| no_such(&name))
}

/// `PATCH /api/plugins/{name}` with `{"capabilities": {...}, "limits": {...}}`: 200 info.
/// Capabilities are replaced whole; limits are merged, `null` going back to the default.
pub(crate) async fn configure(
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
    JsonBody(patch): JsonBody<SettingsPatch>,
) -> Result<Json<PluginInfo>> {
    Ok(Json(state.runtime.configure(&name, patch)?))
}

/// `DELETE /api/plugins/{name}`: 204.
pub(crate) async fn remove(
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
) -> Result<StatusCode> {
    if state.runtime.remove(&name)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_such(&name))
    }
}

fn no_such(name: &str) -> ApiError {
    ApiError::not_found(format!("no plugin named `{name}`"))
}
