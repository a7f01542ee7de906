//! `/api/plugins/...`: upload, replace, inspect, list, delete, and refused uploads, with real
//! plugins built from `plugins/`.

use crate::built;
use crate::common::TestApp;
use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchyard_api::BodyLimits;

/// The temperature recorder: a component of the switchyard:plugin world.
fn plugin() -> Vec<u8> {
    std::fs::read(built::plugin("recorder")).unwrap()
}

/// A WASI command: a real component, of another world.
fn stranger() -> Vec<u8> {
    std::fs::read(built::plugin("not-a-plugin")).unwrap()
}

async fn upload(app: &TestApp, name: &str, bytes: Vec<u8>) -> crate::common::Reply {
    app.send_bytes(
        Method::PUT,
        &format!("/api/plugins/{name}"),
        "application/wasm",
        bytes,
    )
    .await
}

#[tokio::test]
async fn upload_inspect_list_replace_delete() {
    let app = TestApp::new();
    let bytes = plugin();

    let created = upload(&app, "recorder", bytes.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.headers[header::LOCATION], "/api/plugins/recorder");
    let info = &created.body;
    assert_eq!(info["name"], "recorder");
    assert_eq!(info["size"], bytes.len());
    assert_eq!(info["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert!(
        info["world"]
            .as_str()
            .unwrap()
            .contains("switchyard:plugin"),
        "{info}"
    );
    assert_eq!(info["kind"], "component");
    assert!(info["uploaded"].is_string());

    let read = app.get("/api/plugins/recorder").await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(&read.body, info);

    assert_eq!(
        upload(&app, "forwarder", bytes.clone()).await.status,
        StatusCode::CREATED
    );
    let list = app.get("/api/plugins").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["total"], 2);
    let names: Vec<&Value> = list.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["name"])
        .collect();
    assert_eq!(names, [&json!("forwarder"), &json!("recorder")]);

    let replaced = upload(&app, "recorder", bytes).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    assert_eq!(replaced.body["name"], "recorder");

    let deleted = app.request(Method::DELETE, "/api/plugins/recorder").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = app.get("/api/plugins/recorder").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(gone.error().contains("recorder"), "{}", gone.error());
    let again = app.request(Method::DELETE, "/api/plugins/recorder").await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/plugins").await.body["total"], 1);
}

/// Uploads `bytes` as `name` and checks it is refused with 422, a message containing `reason`,
/// and nothing stored.
async fn assert_refused(app: &TestApp, name: &str, bytes: Vec<u8>, reason: &str) {
    let reply = upload(app, name, bytes).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(reply.error().contains(reason), "{}", reply.error());
    let stored = app.get(&format!("/api/plugins/{name}")).await;
    assert_eq!(stored.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bytes_that_are_not_wasm_are_refused_saying_so() {
    let app = TestApp::new();
    for bytes in [b"definitely not wasm".to_vec(), Vec::new()] {
        assert_refused(&app, "garbage", bytes, "not a WebAssembly").await;
    }
}

#[tokio::test]
async fn a_core_module_is_refused_saying_it_is_not_a_plugin_component() {
    let app = TestApp::new();
    assert_refused(&app, "core", b"\0asm\x01\0\0\0".to_vec(), "core module").await;
}

#[tokio::test]
async fn a_component_of_another_world_is_refused() {
    let app = TestApp::new();
    assert_refused(&app, "stranger", stranger(), "switchyard:plugin").await;
}

#[tokio::test]
async fn an_invalid_plugin_name_is_400() {
    let app = TestApp::new();
    let reply = upload(&app, "bad%20name", plugin()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(reply.error().contains("bad name"), "{}", reply.error());
}

#[tokio::test]
async fn uploads_have_their_own_size_limit() {
    let bytes = plugin();
    let app = TestApp::with_limits(BodyLimits {
        json: 16,
        plugin: bytes.len(),
    });
    assert_eq!(
        upload(&app, "fits", bytes.clone()).await.status,
        StatusCode::CREATED
    );

    let app = TestApp::with_limits(BodyLimits {
        plugin: bytes.len() - 1,
        ..BodyLimits::default()
    });
    let reply = upload(&app, "too-big", bytes.clone()).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        reply
            .error()
            .contains(&format!("{} bytes", bytes.len() - 1)),
        "{}",
        reply.error()
    );
}
