//! `/api/plugins/...`: upload, replace, inspect, list, delete, and refused uploads.
//!
//! The uploaded component is generated from `wit/plugin.wit` with wit-component's dummy module:
//! a real component of the plugin world whose handler is never called here.

use crate::common::TestApp;
use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchyard_api::BodyLimits;
use wit_parser::{LiftLowerAbi, ManglingAndAbi, Resolve};

/// A component implementing the world `world` of the WIT package at `wit` (a path or source).
fn component(resolve: &mut Resolve, package: wit_parser::PackageId, world: &str) -> Vec<u8> {
    let world = resolve.select_world(&[package], Some(world)).unwrap();
    let mut module = wit_component::dummy_module(
        resolve,
        world,
        ManglingAndAbi::Legacy(LiftLowerAbi::Sync),
    );
    wit_component::embed_component_metadata(
        &mut module,
        resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

/// A component of Switchyard's plugin world.
fn plugin() -> Vec<u8> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit"))
        .unwrap();
    component(&mut resolve, package, "plugin")
}

/// A component of some other world.
fn stranger() -> Vec<u8> {
    let mut resolve = Resolve::default();
    let package = resolve
        .push_str(
            "other.wit",
            "package other:thing@1.0.0;\nworld thing { export run: func() -> u32; }",
        )
        .unwrap();
    component(&mut resolve, package, "thing")
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
    assert!(info["world"].as_str().unwrap().contains("switchyard:plugin"), "{info}");
    assert_eq!(info["kind"], "component");
    assert!(info["uploaded"].is_string());

    let read = app.get("/api/plugins/recorder").await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(&read.body, info);

    assert_eq!(upload(&app, "forwarder", bytes.clone()).await.status, StatusCode::CREATED);
    let list = app.get("/api/plugins").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["total"], 2);
    let names: Vec<&Value> = list.body["result"].as_array().unwrap().iter().map(|p| &p["name"]).collect();
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

#[tokio::test]
async fn bytes_that_are_not_wasm_are_refused_saying_so() {
    let app = TestApp::new();
    for bytes in [b"definitely not wasm".to_vec(), Vec::new()] {
        let reply = upload(&app, "garbage", bytes).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
        assert!(reply.error().contains("not a WebAssembly"), "{}", reply.error());
    }
    assert_eq!(app.get("/api/plugins/garbage").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_core_module_is_refused_saying_it_is_not_a_plugin_component() {
    let app = TestApp::new();
    let reply = upload(&app, "core", b"\0asm\x01\0\0\0".to_vec()).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert!(reply.error().contains("module"), "{}", reply.error());
    assert_eq!(app.get("/api/plugins/core").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_component_of_another_world_is_refused() {
    let app = TestApp::new();
    let reply = upload(&app, "stranger", stranger()).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert!(reply.error().contains("switchyard:plugin"), "{}", reply.error());
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
    assert_eq!(upload(&app, "fits", bytes.clone()).await.status, StatusCode::CREATED);

    let app = TestApp::with_limits(BodyLimits {
        plugin: bytes.len() - 1,
        ..BodyLimits::default()
    });
    let reply = upload(&app, "too-big", bytes.clone()).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        reply.error().contains(&format!("{} bytes", bytes.len() - 1)),
        "{}",
        reply.error()
    );
}
