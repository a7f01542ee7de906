//! A router over a fresh database, and requests that read back status, headers and JSON.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::Value;
use switchyard_api::{AppState, Auth, BodyLimits, router};
use switchyard_runtime::{Limits, PluginLimits};
use switchyard_store::Store;
use tower::ServiceExt;

pub const TOKEN: &str = "s3cret-test-token";

pub struct TestApp {
    router: Router,
    /// The database behind the router, to check what the API never shows.
    pub store: Store,
    _dir: tempfile::TempDir,
}

/// A response: status, headers and the body parsed as JSON (`Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `error` message of an error answer.
    pub fn error(&self) -> &str {
        self.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no `error` string in {}", self.body))
    }

    /// The `id` of an object answer.
    pub fn id(&self) -> String {
        self.body["id"].as_str().expect("an object id").to_owned()
    }
}

impl TestApp {
    pub fn new() -> TestApp {
        TestApp::with_limits(BodyLimits::default())
    }

    pub fn with_limits(limits: BodyLimits) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let switchyard = switchyard::Builder::new(dir.path())
            .limits(Limits {
                plugin: PluginLimits {
                    memory_mb: 16,
                    ..PluginLimits::default()
                },
                max_instances: 8,
                max_memory_mb: 64,
                ..Limits::default()
            })
            .build()
            .unwrap();
        let store = switchyard.store.clone();
        let metrics = std::sync::Arc::new(|| "# TYPE switchyard_test counter\n".to_owned());
        let state = AppState::new(switchyard.dispatcher, Auth::from_token(TOKEN))
            .with_limits(limits)
            .with_metrics(metrics, false);
        TestApp {
            router: router(state),
            store,
            _dir: dir,
        }
    }

    /// Sends a request as is; returns the status, headers and body bytes.
    pub async fn raw(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, headers, bytes)
    }

    /// Sends a request as is.
    pub async fn call(&self, request: Request<Body>) -> Reply {
        let (status, headers, bytes) = self.raw(request).await;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|error| panic!("{status}: body is not JSON ({error}): {bytes:?}"))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Sends `body` with the test token and the given content type.
    pub async fn send_bytes(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<Body>,
    ) -> Reply {
        let request = authorized(method, path)
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())
            .unwrap();
        self.call(request).await
    }

    /// Sends `body` as JSON with the test token.
    pub async fn send(&self, method: Method, path: &str, body: Value) -> Reply {
        self.send_bytes(method, path, "application/json", body.to_string())
            .await
    }

    /// Sends a request without a body with the test token.
    pub async fn request(&self, method: Method, path: &str) -> Reply {
        self.call(authorized(method, path).body(Body::empty()).unwrap())
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, body).await
    }

    /// Creates an object and returns its id.
    pub async fn create(&self, type_name: &str, body: Value) -> String {
        let reply = self.post(&format!("/api/objects/{type_name}"), body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.id()
    }
}

pub fn authorized(method: Method, path: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
}
