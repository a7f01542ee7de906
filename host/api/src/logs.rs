//! `GET /api/logs`: what plugins logged and printed, newest last. With `follow=true` the answer
//! is a stream of server-sent events: the recent lines, then each new line as it is logged,
//! until the client goes away or the server shuts down.

use crate::error::{ApiError, Result};
use crate::extract::{Checked, Scoped};
use crate::openapi::ErrorMessage;
use axum::Json;
use axum::extract::Query;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, stream};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use switchyard_runtime::{LogFilter, LogLine};
use tokio::sync::broadcast::error::RecvError;

/// Lines answered when the request does not say; `limit` may ask for up to [`MAX_LIMIT`].
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Params {
    plugin: Option<String>,
    subscriber: Option<String>,
    limit: Option<usize>,
    #[serde(default)]
    follow: bool,
}

/// `GET /api/logs[?plugin=P][&subscriber=S][&limit=N][&follow=true]`: 200
/// `{"result": [line...], "total": n}`, or an event stream of `log` events (data: one line)
/// and `lagged` events (data: `{"missed": n}`, when the follower fell behind).
#[utoipa::path(get, path = "/api/logs", tag = "operate",
    params(
        ("plugin" = Option<String>, Query, description = "Only this plugin's lines"),
        ("subscriber" = Option<String>, Query, description = "Only lines of invocations for this subscriber"),
        ("limit" = Option<usize>, Query, description = "The latest this many lines (default 100, at most 10,000)"),
        ("follow" = Option<bool>, Query, description = "Stream as server-sent events: these lines, then each new one"),
    ),
    responses(
        (status = 200, description = "`{result: [{seq, timeMs, plugin, subscriber, level, stream, message}...], total}`, or `text/event-stream` when following", body = Value),
        (status = 400, description = "A bad query parameter", body = ErrorMessage),
    ))]
pub(crate) async fn logs(
    Scoped(state): Scoped,
    Checked(Query(params)): Checked<Query<Params>>,
) -> Result<Response> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "`limit` {limit} is over the maximum of {MAX_LIMIT} lines"
        )));
    }
    let filter = LogFilter {
        tenant: state.tenant.clone(),
        plugin: params.plugin,
        subscriber: params.subscriber,
    };
    let journal = state.plugins.runtime().journal();
    // Following starts before the recent lines are read, so no line falls in between.
    let feed = params.follow.then(|| journal.follow());
    let recent = journal.recent(&filter, limit);
    let Some(feed) = feed else {
        let lines: Vec<&LogLine> = recent.iter().map(|line| &**line).collect();
        let total = lines.len();
        return Ok(Json(json!({ "result": lines, "total": total })).into_response());
    };
    let last = recent.last().map_or(0, |line| line.seq);
    let live = stream::unfold((feed, filter), move |(mut feed, filter)| async move {
        loop {
            let event = match feed.recv().await {
                Ok(line) if line.seq > last && filter.matches(&line) => event(&line),
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => Event::default()
                    .event("lagged")
                    .data(json!({ "missed": missed }).to_string()),
                Err(RecvError::Closed) => return None,
            };
            return Some((event, (feed, filter)));
        }
    });
    let events = stream::iter(recent.iter().map(event).collect::<Vec<_>>())
        .chain(live)
        .map(Ok::<_, Infallible>)
        .take_until(state.closing.clone().cancelled_owned());
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn event(line: &Arc<LogLine>) -> Event {
    let data = serde_json::to_string(&**line).expect("a log line serializes");
    Event::default()
        .event("log")
        .id(line.seq.to_string())
        .data(data)
}
