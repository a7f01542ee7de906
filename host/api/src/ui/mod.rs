//! The admin UI under `/ui/`: pages rendered on the server (maud) and made live with htmx,
//! which is vendored in `assets/` and embedded in the binary, so there is no build step and
//! no CDN. It signs in with the API token ([`session`]) and acts through the same store,
//! plugins, brokers and dispatcher as the REST API, with the same checks and messages. Reads
//! never show secrets: the store leaves them out of every object it returns.

mod clients;
mod failed;
mod instances;
mod logs;
mod objects;
mod plugins;
mod publish;
mod session;
mod subscribers;
mod tenants;
mod view;

use crate::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

/// The UI's routes; everything but the sign-in form and the assets needs a session.
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/ui/", get(clients::show))
        .route("/ui/clients", get(clients::show).post(clients::create))
        .route("/ui/clients/table", get(clients::table))
        .route("/ui/clients/{id}/enabled", post(clients::set_enabled))
        .route("/ui/clients/{id}/delete", post(clients::delete))
        .route(
            "/ui/subscribers",
            get(subscribers::show).post(subscribers::create),
        )
        .route(
            "/ui/subscribers/{id}",
            get(subscribers::edit).post(subscribers::save),
        )
        .route("/ui/subscribers/{id}/delete", post(subscribers::delete))
        .route(
            "/ui/plugins",
            get(plugins::show)
                .post(plugins::upload)
                .layer(DefaultBodyLimit::max(state.limits.plugin)),
        )
        .route("/ui/plugins/{name}/delete", post(plugins::delete))
        .route("/ui/objects", get(objects::browse).post(objects::create))
        .route("/ui/objects/{id}", get(objects::edit).post(objects::save))
        .route("/ui/objects/{id}/delete", post(objects::delete))
        .route("/ui/failed", get(failed::show))
        .route("/ui/failed/replay", post(failed::replay_all))
        .route("/ui/failed/{id}/replay", post(failed::replay))
        .route("/ui/instances", get(instances::show))
        .route("/ui/logs", get(logs::show))
        .route("/ui/logs/stream", get(crate::logs::logs))
        .route("/ui/publish", get(publish::show).post(publish::send))
        .route("/ui/tenant", post(session::switch))
        .route("/ui/tenants", get(tenants::show).post(tenants::create))
        .route("/ui/tenants/{name}/quotas", post(tenants::set_quotas))
        .route("/ui/tenants/{name}/tokens", post(tenants::issue))
        .route(
            "/ui/tenants/{name}/tokens/{id}/revoke",
            post(tenants::revoke),
        )
        .route("/ui/tenants/{name}/delete", post(tenants::delete))
        .route("/ui/logout", post(session::logout))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            session::require,
        ));
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/login", get(session::form).post(session::login))
        .route("/ui/assets/{file}", get(asset))
        .merge(pages)
        .layer(middleware::map_response(lock_down))
}

/// What a browser may do with the UI's pages: run only the UI's own scripts (so injected
/// markup could not run any), send forms only to the UI, and never show a page inside another
/// site's frame (clickjacking). htmx adds its indicator styles inline, hence `style-src`.
async fn lock_down(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET /ui/assets/{file}`: the files embedded at build time.
async fn asset(Path(file): Path<String>) -> Response {
    let (content_type, body): (&str, &'static [u8]) = match file.as_str() {
        "htmx.min.js" => ("text/javascript", include_bytes!("assets/htmx.min.js")),
        "logs.js" => ("text/javascript", include_bytes!("assets/logs.js")),
        "style.css" => ("text/css", include_bytes!("assets/style.css")),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let cache = "public, max-age=3600";
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}
