//! Signing in to the UI with the operator's token or a tenant's. The token goes in a session
//! cookie that scripts cannot read (`HttpOnly`) and other sites cannot send
//! (`SameSite=Strict`, which also keeps them from posting the UI's forms), never in a URL.
//! A tenant's token shows its tenant; the operator picks the tenant to show (a second cookie,
//! the UI's `X-Tenant`). The same rules as the API's apply ([`crate::auth`]).

use crate::AppState;
use crate::auth::{self, Caller};
use crate::error::ApiError;
use axum::Form;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, html};
use serde::Deserialize;

const COOKIE: &str = "switchyard_session";
/// The tenant the operator is looking at.
const TENANT_COOKIE: &str = "switchyard_tenant";
const LOGIN: &str = "/ui/login";

#[derive(Deserialize)]
pub(crate) struct Login {
    token: String,
}

/// Middleware: the UI's pages only with a valid session, as its [`Caller`]; otherwise to the
/// sign-in form (told to htmx with `HX-Redirect`, since it would swap a redirect's page into
/// the current one). A viewer's session may not post forms (but signing out).
pub(crate) async fn require(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let caller = match session(&state, req.headers()) {
        Ok(Some(caller)) => caller,
        Ok(None) if req.headers().contains_key("hx-request") => {
            return (StatusCode::UNAUTHORIZED, [("hx-redirect", LOGIN)]).into_response();
        }
        Ok(None) => return Redirect::to(LOGIN).into_response(),
        Err(error) => return error.into_response(),
    };
    let path = req.uri().path();
    let read = auth::only_reads(req.method(), path) || path == "/ui/logout";
    let mut allowed = if read { Ok(()) } else { caller.may_write() };
    // `/ui/tenant` (choosing one) and `/ui/tenants` (managing them).
    if path.starts_with("/ui/tenant") {
        allowed = allowed.and_then(|()| caller.must_be_operator("managing tenants"));
    }
    if let Err(error) = allowed {
        let shown = state.scoped(&caller);
        return super::view::page(&shown, "Not allowed", Some(Err(error)), Ok(html! {}));
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Who the session is, in which tenant; `None` without a live session. An operator session
/// whose chosen tenant is gone shows the default one.
fn session(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
    let Some(token) = cookie(headers, COOKIE) else {
        return Ok(None);
    };
    let chosen = cookie(headers, TENANT_COOKIE).filter(|t| state.tenants.exists(t));
    match auth::caller(state, &token, chosen.as_deref()) {
        // A tenant's session with the operator's tenant cookie left over.
        Err(_) if chosen.is_some() => auth::caller(state, &token, None),
        found => found,
    }
}

/// A cookie's value. Values are stored hex-encoded, so any token fits a cookie.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let cookies = headers.get_all(header::COOKIE).into_iter();
    let value = cookies
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))?;
    String::from_utf8(hex::decode(value).ok()?).ok()
}

/// The cookie that keeps `value` for the UI's pages, or forgets it (`None`).
fn set_cookie(name: &str, value: Option<&str>) -> String {
    match value {
        Some(value) => format!(
            "{name}={}; Path=/ui; HttpOnly; SameSite=Strict",
            hex::encode(value)
        ),
        None => format!("{name}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"),
    }
}

#[derive(Deserialize)]
pub(crate) struct Switch {
    tenant: String,
}

/// `POST /ui/tenant` with `tenant=NAME` (the operator's, see [`require`]): the UI shows that
/// tenant from now on.
pub(crate) async fn switch(State(state): State<AppState>, Form(switch): Form<Switch>) -> Response {
    if !state.tenants.exists(&switch.tenant) {
        let error = ApiError::not_found(format!("no tenant named `{}`", switch.tenant));
        return error.into_response();
    }
    let cookie = set_cookie(TENANT_COOKIE, Some(&switch.tenant));
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/clients")).into_response()
}

/// `GET /ui/login`.
pub(crate) async fn form() -> Response {
    login_page(StatusCode::OK, None)
}

/// `POST /ui/login`: sets the session and goes to the UI, or shows the form again.
pub(crate) async fn login(State(state): State<AppState>, Form(login): Form<Login>) -> Response {
    let token = login.token.trim();
    if !matches!(auth::caller(&state, token, None), Ok(Some(_))) {
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some("That is neither this server's API token nor a tenant's."),
        );
    }
    let headers = AppendHeaders([
        (header::SET_COOKIE, set_cookie(COOKIE, Some(token))),
        (header::SET_COOKIE, set_cookie(TENANT_COOKIE, None)),
    ]);
    (headers, Redirect::to("/ui/clients")).into_response()
}

/// `POST /ui/logout`: forgets the session.
pub(crate) async fn logout() -> Response {
    let headers = AppendHeaders([
        (header::SET_COOKIE, set_cookie(COOKIE, None)),
        (header::SET_COOKIE, set_cookie(TENANT_COOKIE, None)),
    ]);
    (headers, Redirect::to(LOGIN)).into_response()
}

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Sign in · Switchyard" }
                link rel="stylesheet" href="/ui/assets/style.css";
            }
            body.login {
                form method="post" action=(LOGIN) {
                    h1 { "Switchyard" }
                    @if let Some(error) = error { p.failed role="alert" { (error) } }
                    label {
                        "API token"
                        input type="password" name="token" required autocomplete="current-password" autofocus;
                    }
                    p.hint { "The token the server printed when it started, the one it was started with, or a token of your tenant." }
                    button { "Sign in" }
                }
            }
        }
    };
    (status, markup).into_response()
}
