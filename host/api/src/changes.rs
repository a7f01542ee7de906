//! `GET /api/objects/{Type}/changes`: the type's creates, updates and deletes as server-sent
//! events, for browsers and scripts; the same change feed Data over MQTT's subscriptions
//! publish (`switchyard-changes`), with the list route's filters evaluated on the server. Each
//! event's id is the change's sequence number on this instance: a client that comes back with
//! `Last-Event-ID` (as `EventSource` does by itself) gets what it missed while the instance
//! still holds it (the last 10,000 changes), or a `missed` event first (read again).
//!
//! The tenant's lifecycle hooks are asked as for a subscription (`beforeSubscribe`), so a
//! filter a hook adds holds here too.

use crate::error::{ApiError, Result};
use crate::extract::{Checked, Scoped};
use crate::lifecycle::Hooked;
use crate::openapi::ErrorMessage;
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, stream};
use serde_json::json;
use std::convert::Infallible;
use switchyard_changes::{Notice, Receiver, Wanted};
use switchyard_lifecycle::Operation;

/// Change feeds one tenant may hold open on one instance.
const PER_TENANT: usize = 64;

/// `GET /api/objects/{Type}/changes?prop=value...&follow=true`.
#[utoipa::path(get, path = "/api/objects/{type}/changes", tag = "objects",
    params(("type" = String, Path, description = "The object type"),
        ("follow" = Option<bool>, Query, description = "Keep the stream open for every later change (otherwise: what the instance holds after `Last-Event-ID`, then the end)"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event"),
    ),
    responses(
        (status = 200, description = "`text/event-stream` of `create`, `update` and `delete` events (data: `{operation, entity, data}`, `data` the object or `{id}`), and `missed` (read again); other query parameters are equality filters", body = String),
        (status = 400, description = "A bad query parameter or `Last-Event-ID`", body = ErrorMessage),
        (status = 429, description = "The tenant holds too many open change feeds", body = ErrorMessage),
    ))]
pub(crate) async fn changes(
    Scoped(state): Scoped,
    Checked(Path(type_name)): Checked<Path<String>>,
    Checked(Query(params)): Checked<Query<Vec<(String, String)>>>,
    headers: HeaderMap,
) -> Result<Response> {
    switchyard_store::validate_type_name(&type_name)?;
    let mut follow = false;
    let mut filters = Vec::new();
    for (key, value) in &params {
        match key.as_str() {
            "follow" => {
                follow = value.parse().map_err(|_| {
                    ApiError::bad_request(format!("`follow` must be true or false, not `{value}`"))
                })?;
            }
            "_sort" | "_order" | "_limit" | "_offset" => {
                return Err(ApiError::bad_request(format!(
                    "`{key}` does not apply to a change feed: changes come in commit order"
                )));
            }
            _ => filters.push((key.as_str(), value.as_str())),
        }
    }
    let query = switchyard_store::Query::from_params(filters)?;
    let after = match headers.get("last-event-id") {
        None => None,
        Some(id) => Some(
            id.to_str()
                .ok()
                .and_then(|id| id.trim().parse().ok())
                .ok_or_else(|| {
                    ApiError::bad_request("`Last-Event-ID` must be the id of an event of this feed")
                })?,
        ),
    };
    let hooked = Hooked::before(&state, Operation::Subscribe, &type_name, |request| {
        request.query = query.clone();
    })
    .await?;
    let query = hooked.query(query);
    let owner = format!("sse:{}", state.tenant);
    if state.feeds.held_by(&owner) >= PER_TENANT {
        return Err(ApiError::quota(format!(
            "a tenant may hold {PER_TENANT} change feeds open at once on an instance"
        )));
    }
    let receiver = state.feeds.open(Wanted {
        tenant: state.tenant.clone(),
        entity: type_name.clone(),
        filters: query.filters,
        owner,
        after,
    })?;
    let shown = |receiver: &Receiver| json!({ "id": receiver.id });
    let mut receiver = hooked.after(Ok(receiver), shown).await?;
    if !follow {
        let held: Vec<Event> = std::iter::from_fn(|| receiver.try_next())
            .map(|notice| event(&type_name, notice))
            .collect();
        let events = stream::iter(held).map(Ok::<_, Infallible>);
        return Ok(Sse::new(events).into_response());
    }
    let live = stream::unfold(receiver, move |mut receiver| {
        let type_name = type_name.clone();
        async move {
            let notice = receiver.next().await?;
            Some((event(&type_name, notice), receiver))
        }
    });
    let events = live
        .map(Ok::<_, Infallible>)
        .take_until(state.closing.clone().cancelled_owned());
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn event(entity: &str, notice: Notice) -> Event {
    let data = json!({"operation": notice.operation, "entity": entity, "data": notice.data});
    let event = Event::default()
        .event(notice.operation)
        .data(data.to_string());
    match notice.seq {
        0 => event,
        seq => event.id(seq.to_string()),
    }
}
