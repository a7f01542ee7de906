//! The admin UI's session and its object editor, through the router. (The whole UI in a real
//! browser is `tests/admin_ui.rs`.)

use crate::common::{TOKEN, TestApp};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

const COOKIE: &str = "switchyard_session";

/// The `Cookie` header a browser sends after signing in.
fn session() -> String {
    format!("{COOKIE}={}", hex::encode(TOKEN))
}

fn form(path: &str, cookie: Option<&str>, body: String) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::from(body)).unwrap()
}

async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let request = Request::get(path).header(header::COOKIE, session());
    let (status, _, body) = app.raw(request.body(Body::empty()).unwrap()).await;
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn pages_need_a_session_from_the_api_token() {
    let app = TestApp::new();
    for path in ["/ui/clients", "/ui/objects", "/ui/logs", "/ui/logs/stream"] {
        let (status, headers, _) = app
            .raw(Request::get(path).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(headers[header::LOCATION], "/ui/login", "{path}");
        // htmx is told to leave the page, rather than swap the sign-in form into it.
        let htmx = Request::get(path).header("hx-request", "true");
        let (status, headers, _) = app.raw(htmx.body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(headers["hx-redirect"], "/ui/login", "{path}");
    }
    let wrong_cookie = format!("{COOKIE}={}", hex::encode("guess"));
    let request = Request::get("/ui/clients").header(header::COOKIE, wrong_cookie);
    let (status, _, _) = app.raw(request.body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "a wrong token is no session");

    let (status, headers, body) = app.raw(form("/ui/login", None, "token=guess".into())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!headers.contains_key(header::SET_COOKIE));
    assert!(String::from_utf8_lossy(&body).contains("neither this server"));

    let (status, headers, _) = app
        .raw(form("/ui/login", None, format!("token={TOKEN}")))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/ui/clients");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with(&format!("{}; ", session())), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let request = Request::get("/ui/clients").header(header::COOKIE, session());
    let (status, headers, html) = app.raw(request.body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&html).contains("<h1>Clients</h1>"));
    // Only the UI's own scripts run, and no other site may frame it.
    let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    let asset = Request::get("/ui/assets/htmx.min.js")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = app.raw(asset).await;
    assert_eq!(status, StatusCode::OK, "assets need no session");
    assert_eq!(headers[header::CONTENT_TYPE], "text/javascript");
}

#[tokio::test]
async fn the_editor_saves_only_what_changed_and_never_shows_or_drops_a_secret() {
    let app = TestApp::new();
    let client = json!({"name": "site", "mainBrokerURL": "mqtt://broker.example:1883",
        "username": "u", "password": "hunter2-never-shown"});
    let id = app.create("MQTTClient", client).await;
    let (status, html) = page(&app, &format!("/ui/objects/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("&quot;username&quot;: &quot;u&quot;"),
        "{html}"
    );
    assert!(!html.contains("hunter2"), "the editor shows no secret");

    // The JSON as the editor showed it (version 1), with the name changed.
    let object = app.get(&format!("/api/objects/MQTTClient/{id}")).await.body;
    let mut edited = object.clone();
    edited["name"] = json!("renamed");
    let body = |value: &serde_json::Value, version: u64| {
        let text = serde_json::to_string_pretty(value).unwrap();
        let encoded: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
        format!("version={version}&properties={encoded}")
    };
    let path = format!("/ui/objects/{id}");
    let cookie = session();
    let version = object["version"].as_u64().unwrap();
    let (status, _, html) = app
        .raw(form(&path, Some(&cookie), body(&edited, version)))
        .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&html));
    let saved = app.get(&format!("/api/objects/MQTTClient/{id}")).await.body;
    assert_eq!(saved["name"], "renamed");

    // The password, which the editor never had, is still there for the connection.
    let stored = app.store.get_with_secrets(&id).unwrap().unwrap();
    assert_eq!(stored["password"], "hunter2-never-shown");

    // An edit of a version that is no longer current is refused, and what was typed stays.
    edited["name"] = json!("stale edit");
    let (status, _, html) = app
        .raw(form(&path, Some(&cookie), body(&edited, version)))
        .await;
    let html = String::from_utf8_lossy(&html);
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(
        html.contains("stale edit"),
        "the typed JSON is kept: {html}"
    );
    let saved = app.get(&format!("/api/objects/MQTTClient/{id}")).await.body;
    assert_eq!(saved["name"], "renamed");
}

#[tokio::test]
async fn a_form_with_bad_json_answers_400_naming_the_problem_and_stores_nothing() {
    let app = TestApp::new();
    let cookie = session();
    for (properties, problem) in [
        ("%7B%22name%22%3A", "not valid JSON: EOF while parsing"),
        ("%5B1%5D", "must be a JSON object"),
    ] {
        let body = format!("type=Order&properties={properties}");
        let (status, _, html) = app.raw(form("/ui/objects", Some(&cookie), body)).await;
        let html = String::from_utf8_lossy(&html);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
        assert!(html.contains(problem), "{problem}: {html}");
    }
    assert_eq!(app.get("/api/objects/Order").await.body["total"], 0);
}
