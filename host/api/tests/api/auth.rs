//! The bearer token, `/health`, and the JSON answers for unknown routes and methods.

use crate::common::{TOKEN, TestApp};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use sha2::{Digest, Sha256};
use switchyard_api::Auth;

/// Every authenticated route, with a method it serves.
const ROUTES: &[(Method, &str)] = &[
    (Method::PUT, "/api/plugins/p"),
    (Method::GET, "/api/plugins"),
    (Method::GET, "/api/plugins/p"),
    (Method::DELETE, "/api/plugins/p"),
    (Method::POST, "/api/objects/Order"),
    (Method::GET, "/api/objects/Order"),
    (Method::POST, "/api/objects/Order/query"),
    (Method::GET, "/api/objects/Order/x"),
    (Method::PATCH, "/api/objects/Order/x"),
    (Method::PUT, "/api/objects/Order/x"),
    (Method::DELETE, "/api/objects/Order/x"),
    (Method::POST, "/api/clients/c/publish"),
    (Method::POST, "/api/clients/c/subscribe"),
    (Method::POST, "/api/clients/c/unsubscribe"),
];

async fn with_authorization(
    app: &TestApp,
    method: Method,
    path: &str,
    value: Option<&str>,
) -> crate::common::Reply {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(value) = value {
        request = request.header(header::AUTHORIZATION, value);
    }
    app.call(request.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn health_answers_without_a_token() {
    let app = TestApp::new();
    let reply = with_authorization(&app, Method::GET, "/health", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn every_api_route_refuses_a_missing_or_wrong_token() {
    let app = TestApp::new();
    let wrong = [
        None,
        Some("Bearer not-the-token".to_owned()),
        Some(format!("Basic {TOKEN}")),
        Some(format!("Bearer{TOKEN}")),
        Some("Bearer ".to_owned()),
    ];
    for (method, path) in ROUTES {
        for authorization in &wrong {
            let reply =
                with_authorization(&app, method.clone(), path, authorization.as_deref()).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {authorization:?}"
            );
            assert_eq!(reply.error(), "missing or invalid bearer token");
            assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
        }
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::new();
    let reply = with_authorization(
        &app,
        Method::GET,
        "/api/plugins",
        Some(&format!("bearer {TOKEN}")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[test]
fn a_stored_hash_accepts_the_token_it_was_made_from() {
    let stored = hex::encode(Sha256::digest(TOKEN));
    let auth = Auth::from_hex(&stored).unwrap();
    assert!(auth.verify(TOKEN));
    assert!(!auth.verify("other"));
    assert!(Auth::from_token(TOKEN).verify(TOKEN));
    assert!(Auth::from_hex("abc").is_err());
    assert!(Auth::from_hex(&"zz".repeat(32)).is_err());
}

#[tokio::test]
async fn unknown_routes_answer_404_in_json() {
    let app = TestApp::new();
    let reply = app.get("/api/nothing-here").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(
        reply.error().contains("/api/nothing-here"),
        "{}",
        reply.error()
    );
}

#[tokio::test]
async fn unsupported_methods_answer_405_in_json() {
    let app = TestApp::new();
    let reply = app.request(Method::DELETE, "/api/plugins").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(reply.error().contains("DELETE"), "{}", reply.error());
    let reply = app.request(Method::POST, "/health").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(reply.body["error"].is_string());
}
