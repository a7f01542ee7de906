//! `/api/instances`: the Switchyard instances sharing the store (this one alone on the
//! embedded store), each with the clients it runs that only one instance may run at a time.
//! A tenant sees its own clients only, and not where the instances listen.

use crate::error::{ApiError, Result};
use crate::extract::Scoped;
use axum::Json;
use serde_json::{Value, json};

/// `GET /api/instances`: the live instances.
#[utoipa::path(get, path = "/api/instances", tag = "operate",
    responses((status = 200, description = "`{result: [{id, address, startedAt, heartbeatAt, clients: [id...]}...], total}`", body = Value)))]
pub(crate) async fn list(Scoped(state): Scoped) -> Result<Json<Value>> {
    let store = state.store.clone();
    let instances = tokio::task::spawn_blocking(move || store.instances())
        .await
        .map_err(|error| ApiError::internal("listing the instances failed", error))??;
    let own = format!("client/{}/", state.store.tenant());
    let result: Vec<Value> = (instances.iter())
        .map(|instance| {
            let clients: Vec<&str> = (instance.leases.iter())
                .filter_map(|lease| lease.strip_prefix(&own))
                .collect();
            json!({
                "id": instance.id,
                // Where the servers listen is the operator's to know.
                "address": state.operator.then_some(&instance.address),
                "startedAt": instance.started_at,
                "heartbeatAt": instance.heartbeat_at,
                "clients": clients,
                "self": instance.id == state.store.instance_id(),
            })
        })
        .collect();
    Ok(Json(json!({"result": result, "total": result.len()})))
}
