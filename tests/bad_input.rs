//! Bad input through the real server: every route refuses it with a JSON error whose status
//! and message name the problem, and nothing already stored is lost.

use switchyard_test_support as support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::Server;
use support::plugins::plugin;

fn message(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {body}"))
}

#[tokio::test]
async fn every_route_but_health_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let routes = [
        (Method::GET, "/api/plugins"),
        (Method::PUT, "/api/plugins/p"),
        (Method::GET, "/api/plugins/p"),
        (Method::DELETE, "/api/plugins/p"),
        (Method::POST, "/api/objects/Thing"),
        (Method::GET, "/api/objects/Thing"),
        (Method::POST, "/api/objects/Thing/query"),
        (Method::GET, "/api/objects/Thing/x"),
        (Method::PATCH, "/api/objects/Thing/x"),
        (Method::PUT, "/api/objects/Thing/x"),
        (Method::DELETE, "/api/objects/Thing/x"),
        (Method::POST, "/api/clients/x/publish"),
        (Method::POST, "/api/clients/x/subscribe"),
        (Method::POST, "/api/clients/x/unsubscribe"),
    ];
    for (method, path) in routes {
        for token in [None, Some("wrong-token")] {
            let (status, body) = server
                .raw(
                    method.clone(),
                    path,
                    "application/json",
                    b"{}".to_vec(),
                    token,
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {token:?}"
            );
            assert!(message(&body).contains("token"), "{body}");
        }
    }
    let (status, body) = server
        .raw(Method::GET, "/health", "text/plain", vec![], None)
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
}

#[tokio::test]
async fn uploads_that_are_not_plugins_of_our_world_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let token = server.token.clone();
    let put = |name: &'static str, bytes: Vec<u8>| {
        let (server, token) = (&server, token.clone());
        async move {
            let path = format!("/api/plugins/{name}");
            server
                .raw(Method::PUT, &path, "application/wasm", bytes, Some(&token))
                .await
        }
    };

    let (status, body) = put("garbage", b"hello, not wasm".to_vec()).await;
    assert!(status.is_client_error(), "{status}");
    assert!(message(&body).contains("not a WebAssembly"), "{body}");

    // An empty core module: valid wasm, but not a component and without our export.
    let (status, body) = put("core", b"\0asm\x01\0\0\0".to_vec()).await;
    assert!(status.is_client_error(), "{status}");
    assert!(message(&body).contains("core module"), "{body}");

    // A real component of another world (a WASI command).
    let command = std::fs::read(plugin("not-a-plugin")).unwrap();
    let (status, body) = put("command", command).await;
    assert!(status.is_client_error(), "{status}");
    assert!(message(&body).contains("switchyard:plugin"), "{body}");

    let (status, body) = put("bad%20name", std::fs::read(plugin("recorder")).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("plugin name"), "{body}");

    let (_, list) = server.get("/api/plugins").await;
    assert_eq!(list["total"], 0, "refused uploads were stored: {list}");
    let (status, _) = server.get("/api/plugins/garbage").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn object_routes_name_what_is_wrong_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let token = server.token.clone();
    let kept = server.create("Order", json!({"item": "widget"})).await;
    let kept_id = kept["id"].as_str().unwrap();

    let (status, body) = server
        .raw(
            Method::POST,
            "/api/objects/Order",
            "application/json",
            b"{\"item\": ".to_vec(),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (status, body) = server.post("/api/objects/Order", json!([1, 2])).await;
    assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message(&body).contains("object"), "{body}");

    let (status, body) = server
        .post(
            "/api/objects/MQTTClient",
            json!({"mainBrokerURL": "embedded", "qos": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message(&body).contains("qos"), "{body}");

    let (status, body) = server
        .post("/api/objects/MQTTClient", json!({"name": "no url"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message(&body).contains("mainBrokerURL"), "{body}");

    let (status, body) = server
        .post(
            "/api/objects/MessageSubscriber",
            json!({"topic": "a/#/b", "callback": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message(&body).contains("topic"), "{body}");

    let (status, body) = server
        .post("/api/objects/Order", json!({"id": "mine"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message(&body).contains("id"), "{body}");

    let (status, _) = server.get("/api/objects/Order/no-such-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .get(&format!("/api/objects/TemperatureReading/{kept_id}"))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an id read through the wrong type"
    );
    let (status, _) = server
        .patch("/api/objects/Order/no-such-id", json!({"a": 1}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = server.get("/api/objects/Order?_limit=many").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("_limit"), "{body}");
    let (status, body) = server
        .post(
            "/api/objects/Order/query",
            json!({"filters": [{"column": "a", "operator": "like", "value": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("like"), "{body}");

    let (status, body) = server.get("/api/nothing/here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    message(&body);

    let (_, still) = server.get(&format!("/api/objects/Order/{kept_id}")).await;
    assert_eq!(still, kept, "a refused request changed a stored object");
}

#[tokio::test]
async fn client_routes_refuse_unknown_clients_and_bad_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let client = server
        .connected_client(json!({"mainBrokerURL": "embedded", "isEnabled": true}))
        .await;

    let (status, body) = server
        .post(
            "/api/clients/nobody/publish",
            json!({"topic": "t", "message": "m"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(message(&body).contains("nobody"), "{body}");

    let publish = format!("/api/clients/{client}/publish");
    let (status, body) = server.post(&publish, json!({"topic": "t"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = server
        .post(&publish, json!({"topic": "t", "payload_base64": "%%%"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("base64"), "{body}");

    let (status, body) = server
        .post(
            &format!("/api/clients/{client}/subscribe"),
            json!({"topic": "a/#/b"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = server
        .post("/api/clients/nobody/subscribe", json!({"topic": "a"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_disabled_client_answers_conflict_and_says_it_is_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (status, body) = server
        .post(
            "/api/objects/MQTTClient",
            json!({"name": "idle", "mainBrokerURL": "embedded"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (route, request) in [
        ("publish", json!({"topic": "a/b", "message": "m"})),
        ("subscribe", json!({"topic": "a/b"})),
        ("unsubscribe", json!({"topic": "a/b"})),
    ] {
        let (status, body) = (server.post(&format!("/api/clients/idle/{route}"), request)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{route}: {body}");
        assert!(message(&body).contains("disabled"), "{route}: {body}");
    }
}
