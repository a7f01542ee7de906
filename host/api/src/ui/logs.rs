//! The live log view: what plugins log and print, as it happens, filtered by plugin and
//! subscriber. The page's script follows `/ui/logs/stream`, which is `GET /api/logs` with
//! `follow=true` behind the UI's session.

use super::view;
use crate::extract::Scoped;
use axum::extract::Query;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub(crate) struct Filter {
    #[serde(default)]
    plugin: String,
    #[serde(default)]
    subscriber: String,
}

/// `GET /ui/logs?plugin=&subscriber=`.
pub(crate) async fn show(Scoped(state): Scoped, Query(filter): Query<Filter>) -> Response {
    let plugins = super::plugins::names(&state);
    let query: Vec<String> = [
        ("plugin", &filter.plugin),
        ("subscriber", &filter.subscriber),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(key, value)| format!("{key}={}", view::encode(value)))
    .collect();
    let body = html! {
        // A full page load: the old stream closes and a new one starts with the new filters.
        form.filters method="get" action="/ui/logs" hx-boost="false" {
            label { "Plugin"
                select name="plugin" {
                    option value="" { "all" }
                    @for plugin in &plugins { option selected[*plugin == filter.plugin] { (plugin) } }
                }
            }
            label { "Subscriber id" input name="subscriber" value=(filter.subscriber); }
            button { "Filter" }
        }
        div #log.log data-query=(query.join("&")) role="log" aria-live="polite" {}
        script src="/ui/assets/logs.js" {}
    };
    view::page(&state, "Logs", None, Ok(body))
}
