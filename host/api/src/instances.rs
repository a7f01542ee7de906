//! `/api/instances`: the Switchyard instances sharing the store (this one alone on the
//! embedded store), each with the clients it runs that only one instance may run at a time.
//! A tenant sees its own clients only, and not where the instances listen.

use crate::AppState;
use crate::error::{ApiError, Result};
use crate::extract::Scoped;
use axum::Json;
use serde_json::{Value, json};

/// An instance as the caller may see it.
pub(crate) struct Seen {
    pub id: String,
    /// Where its API listens: the operator's to know.
    pub address: Option<String>,
    pub started_at: String,
    pub heartbeat_at: String,
    /// The caller's tenant's clients it runs.
    pub clients: Vec<String>,
    /// The instance answering.
    pub this: bool,
}

/// The live instances, as `state`'s caller may see them.
pub(crate) async fn seen(state: &AppState) -> Result<Vec<Seen>> {
    let store = state.store.clone();
    let instances = tokio::task::spawn_blocking(move || store.instances())
        .await
        .map_err(|error| ApiError::internal("listing the instances failed", error))??;
    let own = format!("client/{}/", state.store.tenant());
    Ok((instances.into_iter())
        .map(|instance| Seen {
            clients: (instance.leases.iter())
                .filter_map(|lease| Some(lease.strip_prefix(&own)?.to_owned()))
                .collect(),
            this: instance.id == state.store.instance_id(),
            address: state.operator.then_some(instance.address),
            id: instance.id,
            started_at: instance.started_at,
            heartbeat_at: instance.heartbeat_at,
        })
        .collect())
}

/// `GET /api/instances`: the live instances.
#[utoipa::path(get, path = "/api/instances", tag = "operate",
    responses((status = 200, description = "`{result: [{id, address, startedAt, heartbeatAt, clients: [id...]}...], total}`", body = Value)))]
pub(crate) async fn list(Scoped(state): Scoped) -> Result<Json<Value>> {
    let result: Vec<Value> = (seen(&state).await?.iter())
        .map(|instance| {
            json!({
                "id": instance.id,
                "address": instance.address,
                "startedAt": instance.started_at,
                "heartbeatAt": instance.heartbeat_at,
                "clients": instance.clients,
                "self": instance.this,
            })
        })
        .collect();
    Ok(Json(json!({"result": result, "total": result.len()})))
}
