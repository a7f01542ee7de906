//! `/api/tenants[/{name}[/tokens[/{id}]]]`, the operator's: create, list, inspect (quotas with
//! what is used of each), change quotas and delete tenants, and issue, list and revoke their
//! tokens. Also the quota checks of creating clients and subscribers, which the store does not
//! count by kind.

use crate::AppState;
use crate::error::{ApiError, Result};
use crate::extract::{Checked, JsonBody};
use crate::openapi::ErrorMessage;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use switchyard_model::MESSAGE_SUBSCRIBER;
use switchyard_tenants::{Quota, Quotas, Role, Tenant, TokenInfo};

/// `POST /api/tenants`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTenant {
    name: String,
    #[serde(default)]
    quotas: Quotas,
}

/// `PATCH /api/tenants/{name}`'s body: quotas to set, `null` to unset (the server's default
/// applies again).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuotaPatch {
    quotas: Map<String, Value>,
}

/// `POST /api/tenants/{name}/tokens`'s body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewToken {
    role: Role,
    note: Option<String>,
    expires_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Force {
    #[serde(default)]
    force: bool,
}

const NAME: &str = "The tenant's name";

/// `POST /api/tenants`: 201 with the tenant.
#[utoipa::path(post, path = "/api/tenants", tag = "tenants",
    request_body(content = Value, description = "`{name, quotas?: {plugins, pluginBytes, objects, storageMb, clients, subscribers, invocationsPerSecond, memoryMb}}`"),
    responses(
        (status = 201, description = "The tenant, with its quotas and usage", body = Value),
        (status = 400, description = "Malformed body or an unknown quota", body = ErrorMessage),
        (status = 403, description = "Not the operator's token", body = ErrorMessage),
        (status = 409, description = "A tenant of that name exists", body = ErrorMessage),
        (status = 422, description = "An invalid name", body = ErrorMessage),
    ))]
pub(crate) async fn create(
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewTenant>,
) -> Result<impl IntoResponse> {
    let tenant = state.tenants.create(&new.name, new.quotas)?;
    state.store.sync().await?;
    let location = format!("/api/tenants/{}", tenant.name);
    let view = view(&state, &tenant)?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    ))
}

/// `GET /api/tenants`: every tenant, the default one included.
#[utoipa::path(get, path = "/api/tenants", tag = "tenants",
    responses(
        (status = 200, description = "`{result: [tenant...], total}`", body = Value),
        (status = 403, description = "Not the operator's token", body = ErrorMessage),
    ))]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Value>> {
    let result = (state.tenants.list().iter())
        .map(|tenant| view(&state, tenant))
        .collect::<Result<Vec<Value>>>()?;
    Ok(Json(json!({"total": result.len(), "result": result})))
}

/// `GET /api/tenants/{name}`.
#[utoipa::path(get, path = "/api/tenants/{name}", tag = "tenants", params(("name" = String, Path, description = NAME)),
    responses(
        (status = 200, description = "`{name, createdAt, quotas, usage: {<quota>: {used, limit}}}`", body = Value),
        (status = 404, description = "No such tenant", body = ErrorMessage),
    ))]
pub(crate) async fn read(
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
) -> Result<Json<Value>> {
    Ok(Json(view(&state, &found(&state, &name)?)?))
}

/// `PATCH /api/tenants/{name}` with `{"quotas": {...}}`: sets quotas, `null` unsets one.
#[utoipa::path(patch, path = "/api/tenants/{name}", tag = "tenants", params(("name" = String, Path, description = NAME)),
    request_body(content = Value, description = "`{quotas: {<quota>: n | null}}`"),
    responses(
        (status = 200, description = "The tenant", body = Value),
        (status = 404, description = "No such tenant", body = ErrorMessage),
        (status = 422, description = "An unknown quota or a value that is not a count", body = ErrorMessage),
    ))]
pub(crate) async fn configure(
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
    JsonBody(patch): JsonBody<QuotaPatch>,
) -> Result<Json<Value>> {
    let tenant = set_quotas(&state, &name, &patch.quotas).await?;
    Ok(Json(view(&state, &tenant)?))
}

/// Sets (or with `null` unsets) quotas of tenant `name` (for the API and the admin UI).
pub(crate) async fn set_quotas(
    state: &AppState,
    name: &str,
    patch: &Map<String, Value>,
) -> Result<Tenant> {
    let mut quotas = found(state, name)?.quotas;
    for (key, value) in patch {
        let quota = Quota::named(key).ok_or_else(|| {
            let names: Vec<&str> = Quota::ALL.iter().map(|q| q.name()).collect();
            ApiError::unprocessable(format!(
                "no quota named `{key}`: use one of {}",
                names.join(", ")
            ))
        })?;
        let value = match value {
            Value::Null => None,
            value => Some(value.as_u64().ok_or_else(|| {
                ApiError::unprocessable(format!(
                    "quota `{key}` must be a whole number of at least 0 or null, not {value}"
                ))
            })?),
        };
        quotas.set(quota, value);
    }
    let tenant = state.tenants.set_quotas(name, quotas)?;
    state.plugins.requota(name);
    state.store.sync().await?;
    Ok(tenant)
}

/// `DELETE /api/tenants/{name}[?force=true]`: 204. A tenant that still holds objects or
/// plugins answers 409 unless `force=true`, which deletes them with it (its clients
/// disconnect) and revokes its tokens.
#[utoipa::path(delete, path = "/api/tenants/{name}", tag = "tenants", params(("name" = String, Path, description = NAME),
        ("force" = Option<bool>, Query, description = "Delete what the tenant holds as well")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such tenant", body = ErrorMessage),
        (status = 409, description = "It still holds objects or plugins", body = ErrorMessage),
        (status = 422, description = "The default tenant, which cannot be deleted", body = ErrorMessage),
    ))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
    Checked(Query(force)): Checked<Query<Force>>,
) -> Result<StatusCode> {
    delete(&state, &name, force.force).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes tenant `name`, with what it holds if `force` (for the API and the admin UI).
pub(crate) async fn delete(state: &AppState, name: &str, force: bool) -> Result<()> {
    found(state, name)?;
    if name == switchyard_tenants::DEFAULT_TENANT {
        // Refused by `Tenants::delete` too, but before anything of it is deleted here.
        return Err(state.tenants.delete(name).unwrap_err().into());
    }
    let store = state.store.in_tenant(name);
    let objects = store.usage()?.objects;
    let (plugins, _) = state.plugins.usage(name);
    if (objects > 0 || plugins > 0) && !force {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "tenant `{name}` still holds {objects} objects and {plugins} plugins: delete \
                 them first, or ask again with ?force=true"
            ),
        ));
    }
    // Clients first, one by one, so their connections close as their objects go.
    let kinds = store.kinds().type_names();
    let clients: Vec<String> = (kinds.iter())
        .map(|kind| store.sizes(kind))
        .collect::<switchyard_store::Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .map(|(id, _)| id)
        .collect();
    store.write(|txn| clients.iter().try_for_each(|id| txn.delete(id).map(drop)))?;
    state.plugins.remove_tenant(name)?;
    store.remove_tenant()?;
    state.tenants.delete(name)?;
    state.store.sync().await?;
    Ok(())
}

/// `POST /api/tenants/{name}/tokens`: 201 with the token, shown this once.
#[utoipa::path(post, path = "/api/tenants/{name}/tokens", tag = "tenants", params(("name" = String, Path, description = NAME)),
    request_body(content = Value, description = "`{role: \"admin\" | \"viewer\", note?, expiresAt?: RFC 3339}`"),
    responses(
        (status = 201, description = "`{token, id, tenant, role, note, expiresAt, createdAt}`: the token is not kept and cannot be shown again", body = Value),
        (status = 400, description = "Malformed body or an unknown role", body = ErrorMessage),
        (status = 404, description = "No such tenant", body = ErrorMessage),
        (status = 422, description = "An expiry that is not an RFC 3339 time in the future", body = ErrorMessage),
    ))]
pub(crate) async fn issue(
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
    JsonBody(new): JsonBody<NewToken>,
) -> Result<impl IntoResponse> {
    let (info, token) = issue_token(&state, &name, new.role, new.note, new.expires_at).await?;
    let mut body = serde_json::to_value(&info).expect("token info serializes");
    body["token"] = token.into();
    Ok((StatusCode::CREATED, Json(body)))
}

/// Issues a token of tenant `name`, on disk (for the API and the admin UI).
pub(crate) async fn issue_token(
    state: &AppState,
    name: &str,
    role: Role,
    note: Option<String>,
    expires_at: Option<String>,
) -> Result<(TokenInfo, String)> {
    let issued = state.tenants.issue(name, role, note, expires_at)?;
    state.store.sync().await?;
    Ok(issued)
}

/// `GET /api/tenants/{name}/tokens`: the tenant's tokens, without the tokens themselves.
#[utoipa::path(get, path = "/api/tenants/{name}/tokens", tag = "tenants", params(("name" = String, Path, description = NAME)),
    responses(
        (status = 200, description = "`{result: [{id, tenant, role, note, expiresAt, createdAt}...], total}`", body = Value),
        (status = 404, description = "No such tenant", body = ErrorMessage),
    ))]
pub(crate) async fn tokens(
    State(state): State<AppState>,
    Checked(Path(name)): Checked<Path<String>>,
) -> Result<Json<Value>> {
    found(&state, &name)?;
    let result = state.tenants.tokens(&name)?;
    Ok(Json(json!({"total": result.len(), "result": result})))
}

/// `DELETE /api/tenants/{name}/tokens/{id}`: 204; the token is refused from now on.
#[utoipa::path(delete, path = "/api/tenants/{name}/tokens/{id}", tag = "tenants",
    params(("name" = String, Path, description = NAME), ("id" = String, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such tenant or token", body = ErrorMessage),
    ))]
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Checked(Path((name, id))): Checked<Path<(String, String)>>,
) -> Result<StatusCode> {
    revoke_token(&state, &name, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes token `id` of tenant `name`, on disk (for the API and the admin UI).
pub(crate) async fn revoke_token(state: &AppState, name: &str, id: &str) -> Result<()> {
    found(state, name)?;
    if !state.tenants.revoke(name, id)? {
        return Err(ApiError::not_found(format!(
            "tenant `{name}` has no token `{id}`"
        )));
    }
    state.store.sync().await?;
    Ok(())
}

pub(crate) fn found(state: &AppState, name: &str) -> Result<Tenant> {
    (state.tenants.get(name))
        .ok_or_else(|| ApiError::not_found(format!("no tenant named `{name}`")))
}

/// How many of `type_names` the store of `state`'s tenant holds.
fn count(state: &AppState, type_names: &[&str]) -> Result<u64> {
    let counts = type_names
        .iter()
        .map(|type_name| state.store.count(type_name));
    Ok(counts.sum::<switchyard_store::Result<usize>>()? as u64)
}

/// What `state`'s tenant uses of each quota that counts something.
fn usage(state: &AppState) -> Result<Vec<(Quota, f64)>> {
    let stored = state.store.usage()?;
    let plugins = state.plugins.list(&state.tenant);
    let largest = plugins.iter().map(|p| p.size).max().unwrap_or(0);
    let kinds = state.store.kinds().type_names();
    Ok(vec![
        (Quota::Plugins, plugins.len() as f64),
        (Quota::PluginBytes, largest as f64),
        (Quota::Objects, stored.objects as f64),
        (Quota::StorageMb, stored.bytes as f64 / f64::from(1 << 20)),
        (Quota::Clients, count(state, &kinds)? as f64),
        (
            Quota::Subscribers,
            count(state, &[MESSAGE_SUBSCRIBER])? as f64,
        ),
    ])
}

/// A tenant as the API shows it: its own quotas, and beside each quota its limit in effect
/// (its own or the server's default) and what it uses.
pub(crate) fn view(state: &AppState, tenant: &Tenant) -> Result<Value> {
    let state = state.scoped_to(&tenant.name);
    let limits = state.tenants.quotas(&tenant.name);
    let used = usage(&state)?;
    let usage: Map<String, Value> = (Quota::ALL.into_iter())
        .map(|quota| {
            let mut entry = json!({ "limit": limits.get(quota) });
            if let Some((_, used)) = used.iter().find(|(q, _)| *q == quota) {
                entry["used"] = round(*used);
            }
            (quota.name().to_owned(), entry)
        })
        .collect();
    Ok(json!({
        "name": tenant.name,
        "createdAt": tenant.created_at,
        "quotas": tenant.quotas,
        "usage": usage,
    }))
}

/// Whole numbers as integers, MiB to two decimals.
fn round(value: f64) -> Value {
    if value.fract() == 0.0 {
        json!(value as u64)
    } else {
        json!((value * 100.0).round() / 100.0)
    }
}

/// Refuses a new object of `type_name` in `state`'s tenant past its `clients` or
/// `subscribers` quota (the store itself checks `objects` and `storageMb`).
pub(crate) fn admit(state: &AppState, type_name: &str) -> Result<()> {
    let quota = if type_name == MESSAGE_SUBSCRIBER {
        Quota::Subscribers
    } else if state.store.kinds().of(type_name).is_some() {
        Quota::Clients
    } else {
        return Ok(());
    };
    let quotas = state.tenants.quotas(&state.tenant);
    if quotas.get(quota).is_none() {
        return Ok(());
    }
    let used = match quota {
        Quota::Subscribers => count(state, &[MESSAGE_SUBSCRIBER])?,
        _ => count(state, &state.store.kinds().type_names())?,
    };
    quotas.check(quota, used, 1).map_err(ApiError::quota)
}
