//! Signing in to the UI with the API token. The token goes in a session cookie that scripts
//! cannot read (`HttpOnly`) and other sites cannot send (`SameSite=Strict`, which also keeps
//! them from posting the UI's forms), never in a URL.

use crate::{AppState, Auth};
use axum::Form;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, html};
use serde::Deserialize;

const COOKIE: &str = "switchyard_session";
const LOGIN: &str = "/ui/login";

#[derive(Deserialize)]
pub(crate) struct Login {
    token: String,
}

/// Middleware: the UI's pages only with a valid session; otherwise to the sign-in form (told
/// to htmx with `HX-Redirect`, since it would swap a redirect's page into the current one).
pub(crate) async fn require(State(auth): State<Auth>, req: Request, next: Next) -> Response {
    if session_token(req.headers()).is_some_and(|token| auth.verify(&token)) {
        return next.run(req).await;
    }
    if req.headers().contains_key("hx-request") {
        return (StatusCode::UNAUTHORIZED, [("hx-redirect", LOGIN)]).into_response();
    }
    Redirect::to(LOGIN).into_response()
}

/// The token in the session cookie. It is stored hex-encoded, so any token fits a cookie.
fn session_token(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get_all(header::COOKIE).into_iter();
    let value = cookies
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))?;
    String::from_utf8(hex::decode(value).ok()?).ok()
}

/// `GET /ui/login`.
pub(crate) async fn form() -> Response {
    login_page(StatusCode::OK, None)
}

/// `POST /ui/login`: sets the session and goes to the UI, or shows the form again.
pub(crate) async fn login(State(state): State<AppState>, Form(login): Form<Login>) -> Response {
    let token = login.token.trim();
    if !state.auth.verify(token) {
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some("That is not this server's API token."),
        );
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict",
        hex::encode(token)
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/clients")).into_response()
}

/// `POST /ui/logout`: forgets the session.
pub(crate) async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to(LOGIN)).into_response()
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
                    p.hint { "The token the server printed when it started, or the one it was started with." }
                    button { "Sign in" }
                }
            }
        }
    };
    (status, markup).into_response()
}
