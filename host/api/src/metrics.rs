//! `GET /metrics`: the server's metrics in Prometheus' text format, behind the token unless
//! the server is started with its metrics public.

use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::Arc;

/// Renders the metrics recorded so far as Prometheus text.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// Where the metrics come from, and whether scraping them needs the token.
#[derive(Clone)]
pub(crate) struct Exposed {
    pub render: RenderMetrics,
    pub public: bool,
}

#[utoipa::path(get, path = "/metrics", tag = "operate",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = state
        .metrics
        .as_ref()
        .map(|m| (m.render)())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
