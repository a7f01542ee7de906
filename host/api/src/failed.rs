//! `/api/failed/...`: replaying `FailedMessage` records through their subscriber's current
//! callback. (Listing, reading and deleting them is `/api/objects/FailedMessage`.)

use crate::error::{ApiError, Result};
use crate::extract::{Checked, Scoped};
use crate::openapi::ErrorMessage;
use axum::Json;
use axum::extract::{Path, Query};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_dispatch::ReplayError;
use switchyard_model::Report;

/// `POST /api/failed/{id}/replay`: 200 once the callback succeeded and the record is gone;
/// 422 (record kept, one more attempt counted) when it failed again.
#[utoipa::path(post, path = "/api/failed/{id}/replay", tag = "failed",
    params(("id" = String, Path, description = "The `FailedMessage`'s id")),
    responses(
        (status = 200, description = "`{id, replayed: true}`: the callback succeeded, the record is gone", body = Value),
        (status = 404, description = "No such `FailedMessage`", body = ErrorMessage),
        (status = 422, description = "The callback failed again (the record stays)", body = ErrorMessage),
    ))]
pub(crate) async fn replay(
    Scoped(state): Scoped,
    Checked(Path(id)): Checked<Path<String>>,
) -> Result<Json<Value>> {
    state.dispatcher.replay(&state.tenant, &id).await?;
    Ok(Json(json!({ "id": id, "replayed": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Which {
    subscriber: Option<String>,
}

/// `POST /api/failed/replay[?subscriber=ID]`: replays every record (of one subscriber),
/// oldest first.
#[utoipa::path(post, path = "/api/failed/replay", tag = "failed",
    params(("subscriber" = Option<String>, Query, description = "Only this subscriber's records")),
    responses(
        (status = 200, description = "`{replayed: n, failed: m}`", body = Value),
        (status = 400, description = "A bad query parameter", body = ErrorMessage),
    ))]
pub(crate) async fn replay_all(
    Scoped(state): Scoped,
    Checked(Query(which)): Checked<Query<Which>>,
) -> Result<Json<Value>> {
    let subscriber = which.subscriber.as_deref();
    let (replayed, failed) = state
        .dispatcher
        .replay_all(&state.tenant, subscriber)
        .await?;
    Ok(Json(json!({ "replayed": replayed, "failed": failed })))
}

impl From<ReplayError> for ApiError {
    fn from(error: ReplayError) -> ApiError {
        match error {
            ReplayError::NotFound(_) => ApiError::not_found(error.to_string()),
            ReplayError::Unusable(..) | ReplayError::Failed(_) => {
                ApiError::unprocessable(Report(&error).to_string())
            }
            ReplayError::Storage(e) => e.into(),
        }
    }
}
