//! The instances sharing the store: when each started and last said it was alive, and which
//! of the tenant's clients each runs (those only one instance may run at a time).

use super::view;
use crate::AppState;
use crate::extract::Scoped;
use crate::instances::seen;
use axum::response::Response;
use maud::{Markup, html};

/// `GET /ui/instances`.
pub(crate) async fn show(Scoped(state): Scoped) -> Response {
    let body = seen(&state).await.map(|instances| {
        html! {
            p.count { (instances.len()) " live, sharing one store." }
            table.instances {
                thead { tr { th { "Instance" } th { "Address" } th { "Started" } th { "Last heartbeat" } th { "Runs" } } }
                tbody {
                    @for instance in &instances {
                        tr {
                            td { code { (instance.id) } @if instance.this { " (this one)" } }
                            td { @if let Some(address) = &instance.address { (address) } }
                            td { (instance.started_at) }
                            td { (instance.heartbeat_at) }
                            td { (clients(&state, &instance.clients)) }
                        }
                    }
                }
            }
        }
    });
    view::page(&state, "Instances", None, body)
}

fn clients(state: &AppState, ids: &[String]) -> Markup {
    html! {
        @for (i, id) in ids.iter().enumerate() {
            @if i > 0 { ", " }
            (view::named(state, id))
        }
    }
}
