//! Failed messages: the newest records with their error, and replaying one or all of them
//! through their subscriber's current callback.

use super::view::{self, Outcome, cell};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Scoped;
use crate::objects::id_of;
use axum::extract::Path;
use axum::response::Response;
use maud::{Markup, html};
use switchyard_store::{Order, Query};

/// Records shown, newest first.
const SHOWN: usize = 100;

/// `GET /ui/failed`.
pub(crate) async fn show(Scoped(state): Scoped) -> Response {
    render(&state, None)
}

/// `POST /ui/failed/{id}/replay`.
pub(crate) async fn replay(Scoped(state): Scoped, Path(id): Path<String>) -> Response {
    let outcome = state
        .dispatcher
        .replay(&state.tenant, &id)
        .await
        .map(|()| format!("Replayed `{id}`: the callback succeeded and the record is gone."))
        .map_err(ApiError::from);
    render(&state, Some(outcome))
}

/// `POST /ui/failed/replay`: every record, oldest first.
pub(crate) async fn replay_all(Scoped(state): Scoped) -> Response {
    let outcome = state.dispatcher.replay_all(&state.tenant, None).await;
    let outcome = outcome
        .map(|(replayed, failed)| format!("Replayed {replayed}; {failed} failed again."))
        .map_err(ApiError::from);
    render(&state, Some(outcome))
}

fn render(state: &AppState, outcome: Option<Outcome>) -> Response {
    view::page(state, "Failed messages", outcome, body(state))
}

fn body(state: &AppState) -> Result<Markup, ApiError> {
    let query = Query {
        sort: Some("lastFailedAt".into()),
        order: Order::Desc,
        limit: Some(SHOWN),
        total: true,
        ..Query::default()
    };
    let page = state
        .store
        .query(switchyard_model::FAILED_MESSAGE, &query)?;
    Ok(html! {
        @if page.result.is_empty() {
            p { "No failed messages." }
        } @else {
            p.count { (page.result.len()) " of " (page.total) ", newest first." }
            form method="post" action="/ui/failed/replay" { button { "Replay all" } }
            table.failed {
                thead { tr { th { "Last failed" } th { "Subscriber" } th { "Client" } th { "Callback" } th { "Topic" } th { "Error" } th { "Attempts" } th {} } }
                tbody {
                    @for record in &page.result {
                        @let id = id_of(record);
                        tr {
                            td { a href=(format!("/ui/objects/{id}")) { (view::text(record, "lastFailedAt")) } }
                            td { (view::named(state, view::text(record, "subscriber"))) }
                            td { (view::named(state, view::text(record, "client"))) }
                            td { (view::text(record, "callback")) }
                            td { code { (view::text(record, "topic")) } }
                            td.error { (view::text(record, "error")) }
                            td { (cell(record.get("attempts"))) }
                            td.actions {
                                form method="post" action=(format!("/ui/failed/{id}/replay")) { button { "Replay" } }
                            }
                        }
                    }
                }
            }
        }
    })
}
