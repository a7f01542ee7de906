//! `/api/plugins/...`: upload, replace, inspect, list, delete, and refused uploads, with real
//! plugins built from `plugins/`.

use crate::common::TestApp;
use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchyard_api::BodyLimits;

/// The temperature recorder: a component of the switchyard:plugin world.
fn plugin() -> Vec<u8> {
    std::fs::read(switchyard_test_support::plugins::plugin("recorder")).unwrap()
}

/// A WASI command: a real component, of another world.
fn stranger() -> Vec<u8> {
    std::fs::read(switchyard_test_support::plugins::plugin("not-a-plugin")).unwrap()
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

#[tokio::test]
async fn capabilities_and_limits_are_set_shown_and_checked() {
    let app = TestApp::new();
    upload(&app, "recorder", plugin()).await;
    let info = app.get("/api/plugins/recorder").await.body;
    assert_eq!(info["capabilities"]["read"], json!(["*"]));
    assert_eq!(info["capabilities"]["publish"], Value::Null);
    assert_eq!(info["limits"]["timeoutMs"], 5000);
    assert_eq!(info["limits"]["memoryMb"], 16, "the server's default");

    let path = "/api/plugins/recorder";
    let patch = json!({
        "capabilities": {"write": ["Reading"], "publish": [{"client": "alerts"}]},
        "limits": {"timeoutMs": 750, "findRows": 10},
    });
    let set = app.send(Method::PATCH, path, patch).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["limits"]["timeoutMs"], 750);
    assert_eq!(
        set.body["limitOverrides"],
        json!({"timeoutMs": 750, "findRows": 10})
    );
    assert_eq!(
        set.body["capabilities"]["publish"][0]["topics"],
        json!(["#"])
    );
    assert_eq!(
        set.body["capabilities"]["read"],
        json!(["*"]),
        "defaults fill the rest"
    );

    // `null` returns a limit to the server's default; a re-upload keeps the settings.
    let reset = app
        .send(Method::PATCH, path, json!({"limits": {"findRows": null}}))
        .await;
    assert_eq!(reset.body["limits"]["findRows"], 100, "{}", reset.body);
    upload(&app, "recorder", plugin()).await;
    let info = app.get(path).await.body;
    assert_eq!(info["limits"]["timeoutMs"], 750);
    assert_eq!(info["capabilities"]["write"], json!(["Reading"]));

    for (patch, status, problem) in [
        (
            json!({"capabilities": {"write": ["MQTTClient"]}}),
            422,
            "built-in type",
        ),
        (
            json!({"capabilities": {"root": true}}),
            400,
            "unknown field `root`",
        ),
        (
            json!({"limits": {"timeout": 1}}),
            422,
            "unknown field `timeout`",
        ),
        (
            json!({"limits": {"memoryMb": 4096}}),
            422,
            "`memoryMb` must be between 1 and 64",
        ),
        (
            json!({"capabilities": {"publish": [{"client": "a", "topics": ["a/#/b"]}]}}),
            422,
            "invalid topic filter",
        ),
    ] {
        let refused = app.send(Method::PATCH, path, patch.clone()).await;
        assert_eq!(refused.status.as_u16(), status, "{patch}: {}", refused.body);
        assert!(
            refused.error().contains(problem),
            "{patch}: {}",
            refused.body
        );
    }
    let missing = app
        .send(Method::PATCH, "/api/plugins/nope", json!({}))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
