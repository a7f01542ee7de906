//! Switchyard's REST/admin API: objects, plugins and broker clients over HTTP, behind a bearer
//! token. Every answer is JSON; every error is `{"error": "<message>"}` (see [`ApiError`] for
//! the statuses). Every route but the tenants' acts in one tenant: the token's, or the one the
//! operator names in `X-Tenant` ([`auth`]).
//!
//! | route | success |
//! |---|---|
//! | `GET /health` (no token) | 200 `{"status":"ok"}`; 503 `{"status":"degraded","reason"}` when the store cannot be reached |
//! | `PUT /api/plugins/{name}` | 201 (new) or 200 (replaced), the plugin's info |
//! | `GET /api/plugins` | 200 `{"result": [info...], "total": n}` |
//! | `GET /api/plugins/{name}`, `DELETE ...` | 200 info; 204 |
//! | `PATCH /api/plugins/{name}` `{capabilities, limits}` | 200 info |
//! | `POST /api/objects/{Type}` | 201 the object |
//! | `GET /api/objects/{Type}`, `POST /api/objects/{Type}/query` | 200 `{"result", "total"}` |
//! | `GET/PATCH/PUT /api/objects/{Type}/{id}`, `DELETE ...` | 200 the object; 204 |
//! | `POST /api/clients/{id}/publish` | 200 `{"published": true}` |
//! | `POST /api/clients/{id}/subscribe`, `/unsubscribe` | 200 `{"subscribed": true}`, `{"unsubscribed": true}` |
//! | `POST /api/failed/{id}/replay` | 200 `{"replayed": true}`; 422 if the callback failed again |
//! | `POST /api/failed/replay[?subscriber=ID]` | 200 `{"replayed": n, "failed": m}` |
//! | `GET /api/logs[?plugin&subscriber&limit&follow]` | 200 `{"result": [line...]}`, or server-sent events |
//! | `POST /api/tenants` `{name, quotas}`, `GET /api/tenants` | 201 the tenant; 200 `{"result", "total"}` |
//! | `GET/PATCH /api/tenants/{name}`, `DELETE ...[?force=true]` | 200 the tenant with its usage; 204 |
//! | `POST /api/tenants/{name}/tokens` `{role}`, `GET ...` | 201 `{token, id, ...}`; 200 `{"result", "total"}` |
//! | `DELETE /api/tenants/{name}/tokens/{id}` | 204 |
//! | `POST /api/devices/publish` (a device's credentials, HTTP Basic) | 200 `{"published": true}` once kept |
//! | `GET /api/instances` | 200 `{"result": [{id, address, startedAt, heartbeatAt, clients, self}...], "total"}` |
//! | `GET /metrics` (token unless public) | 200 Prometheus text |
//! | `GET /api/openapi.json`, `GET /api/docs` (no token) | the OpenAPI document; Swagger UI |
//!
//! The admin UI ([`ui`]) is served beside it under `/ui/` (`/` leads there), signed in with
//! the same token.

mod auth;
mod changes;
mod clients;
mod devices;
mod error;
mod extract;
mod failed;
mod indexes;
mod instances;
mod lifecycle;
mod logs;
mod metrics;
mod objects;
mod openapi;
mod plugins;
mod tenants;
mod ui;

pub use auth::{Auth, TENANT_HEADER};
pub use error::ApiError;
pub use metrics::RenderMetrics;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode, Uri};
use axum::{Json, middleware};
use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_broker::Brokers;
use switchyard_changes::Feeds;
use switchyard_dispatch::Dispatcher;
use switchyard_lifecycle::Lifecycle;
use switchyard_mqtt_broker::EmbeddedBroker;
use switchyard_plugins::Plugins;
use switchyard_store::Store;
use switchyard_tenants::{DEFAULT_TENANT, Tenants};
use tokio_util::sync::CancellationToken;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

/// The largest request bodies the API reads, in bytes; larger ones get 413.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// JSON bodies (objects, queries, publishes). Default 1 MiB.
    pub json: usize,
    /// Plugin uploads. Default 64 MiB.
    pub plugin: usize,
}

impl Default for BodyLimits {
    fn default() -> BodyLimits {
        BodyLimits {
            json: 1 << 20,
            plugin: 64 << 20,
        }
    }
}

/// Everything the handlers use. Cheap to clone: every part is a shared handle. Handlers get
/// it scoped to the caller's tenant ([`extract::Scoped`]): `store` and `brokers` see only
/// that tenant, and `tenant` names it for the plugins, the dispatcher and the logs.
#[derive(Clone)]
pub struct AppState {
    tenant: String,
    /// Whether the caller is the operator (who may switch tenants).
    operator: bool,
    /// Who the caller is, as lifecycle hooks are told: `operator`, `admin` or `viewer`.
    role: &'static str,
    lifecycle: Lifecycle,
    /// The change feeds of this instance, for `.../changes`.
    feeds: Arc<Feeds>,
    store: Store,
    plugins: Plugins,
    brokers: Brokers,
    dispatcher: Dispatcher,
    tenants: Tenants,
    auth: Auth,
    limits: BodyLimits,
    /// Cancelled when the server shuts down, which ends the streams it serves.
    closing: CancellationToken,
    metrics: Option<metrics::Exposed>,
    /// The embedded broker, for devices publishing over HTTP.
    mqtt: Option<EmbeddedBroker>,
}

impl AppState {
    /// The state with the default [`BodyLimits`], over the dispatcher's store, plugins and
    /// brokers.
    pub fn new(dispatcher: Dispatcher, auth: Auth) -> AppState {
        AppState {
            tenant: DEFAULT_TENANT.to_owned(),
            operator: true,
            role: "operator",
            lifecycle: Lifecycle::new(
                dispatcher.callbacks().plugins().clone(),
                dispatcher.store().clone(),
            ),
            feeds: Feeds::new(dispatcher.store().clone()),
            store: dispatcher.store().clone(),
            plugins: dispatcher.callbacks().plugins().clone(),
            brokers: dispatcher.brokers().clone(),
            tenants: dispatcher.tenants().clone(),
            dispatcher,
            auth,
            limits: BodyLimits::default(),
            closing: CancellationToken::new(),
            metrics: None,
            mqtt: None,
        }
    }

    /// Asks the tenants' lifecycle hooks through `lifecycle` and serves change feeds from
    /// `feeds`: the ones Data over MQTT uses, so both share what they read of the hooks and
    /// one window of changes to resume from.
    pub fn with_lifecycle(self, lifecycle: Lifecycle, feeds: Arc<Feeds>) -> AppState {
        AppState {
            lifecycle,
            feeds,
            ..self
        }
    }

    /// Lets devices of `broker` publish over HTTP.
    pub fn with_mqtt(self, broker: Option<EmbeddedBroker>) -> AppState {
        AppState {
            mqtt: broker,
            ..self
        }
    }

    /// Serves `/metrics` from `render`; `public` serves it without the token (for scrapers
    /// that cannot send one).
    pub fn with_metrics(self, render: RenderMetrics, public: bool) -> AppState {
        let metrics = Some(metrics::Exposed { render, public });
        AppState { metrics, ..self }
    }

    /// Cancel it when the server starts shutting down: open event streams then end, so a
    /// graceful shutdown does not wait for their clients to leave.
    pub fn closing(&self) -> CancellationToken {
        self.closing.clone()
    }

    pub fn with_limits(self, limits: BodyLimits) -> AppState {
        AppState { limits, ..self }
    }

    /// The state as `caller` sees it.
    fn scoped(&self, caller: &auth::Caller) -> AppState {
        AppState {
            operator: caller.operator,
            role: match caller.operator {
                true => "operator",
                false => caller.role.name(),
            },
            ..self.scoped_to(&caller.tenant)
        }
    }

    /// The state as `tenant` sees it.
    fn scoped_to(&self, tenant: &str) -> AppState {
        AppState {
            tenant: tenant.to_owned(),
            store: self.store.in_tenant(tenant),
            brokers: self.brokers.in_tenant(tenant),
            ..self.clone()
        }
    }
}

/// The API's routes, ready for `axum::serve`, with its OpenAPI document and Swagger UI.
pub fn router(state: AppState) -> Router {
    let public_metrics = state.metrics.as_ref().map(|m| m.public);
    let upload_limit = DefaultBodyLimit::max(state.limits.plugin);
    let mut api = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(plugins::upload).layer(upload_limit))
        .routes(routes!(plugins::info, plugins::configure, plugins::remove))
        .routes(routes!(plugins::list))
        .routes(routes!(objects::create, objects::list))
        .routes(routes!(objects::query))
        .routes(routes!(changes::changes))
        .routes(routes!(
            objects::read,
            objects::merge,
            objects::replace,
            objects::delete
        ))
        .routes(routes!(clients::publish))
        .routes(routes!(clients::subscribe))
        .routes(routes!(clients::unsubscribe))
        .routes(routes!(failed::replay))
        .routes(routes!(failed::replay_all))
        .routes(routes!(indexes::list))
        .routes(routes!(indexes::create, indexes::remove))
        .routes(routes!(logs::logs))
        .routes(routes!(instances::list))
        .routes(routes!(tenants::create, tenants::list))
        .routes(routes!(tenants::read, tenants::configure, tenants::remove))
        .routes(routes!(tenants::issue, tenants::tokens))
        .routes(routes!(tenants::revoke));
    if public_metrics == Some(false) {
        api = api.routes(routes!(metrics::metrics));
    }
    api = api
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_bearer,
        ))
        // Added after the auth layer, so these go without it (devices sign in on their own).
        .routes(routes!(health))
        .routes(routes!(devices::publish));
    if public_metrics == Some(true) {
        api = api.routes(routes!(metrics::metrics));
    }
    let (router, document) = api.split_for_parts();
    router
        .merge(ui::router(&state))
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", document))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.limits.json))
        // Spans carry method and path only: headers (the token) are never logged.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

#[utoipa::path(get, path = "/health", tag = "operate", security(()),
    responses(
        (status = 200, description = "`{\"status\": \"ok\"}`", body = Value),
        (status = 503, description = "`{\"status\": \"degraded\", \"reason\"}`: the store cannot be reached", body = Value),
    ))]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = state.store.clone();
    let reason = match tokio::task::spawn_blocking(move || store.check()).await {
        Ok(Ok(())) => return (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Ok(Err(e)) => switchyard_model::Report(&e).to_string(),
        Err(e) => format!("checking the store failed: {e}"),
    };
    let body = json!({"status": "degraded", "reason": reason});
    (StatusCode::SERVICE_UNAVAILABLE, Json(body))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for `{}`", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on `{}`", uri.path()),
    )
}
