//! `/api/clients/{id}/...`: bad input and unknown clients. Publishing through a connected
//! client is covered by the end-to-end tests, which run real brokers.

use crate::common::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};

async fn client(app: &TestApp) -> String {
    app.create(
        "MQTTClient",
        json!({"name": "plant", "mainBrokerURL": "embedded"}),
    )
    .await
}

#[tokio::test]
async fn an_unknown_client_is_404_on_every_route() {
    let app = TestApp::new();
    for (route, body) in [
        ("publish", json!({"topic": "a/b", "message": "hi"})),
        ("publish", json!({"topic": "a/b", "payload_base64": "aGk="})),
        ("subscribe", json!({"topic": "a/+"})),
        ("unsubscribe", json!({"topic": "a/+"})),
    ] {
        let reply = app.post(&format!("/api/clients/ghost/{route}"), body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{route}: {}",
            reply.body
        );
        assert!(reply.error().contains("ghost"), "{}", reply.error());
    }
}

#[tokio::test]
async fn a_client_is_found_by_id_and_by_name() {
    let app = TestApp::new();
    let id = client(&app).await;
    for name in [id.as_str(), "plant"] {
        let reply = app
            .post(
                &format!("/api/clients/{name}/publish"),
                json!({"topic": "a/b", "message": "hi"}),
            )
            .await;
        // No broker kind is registered here, so the client is found but cannot send.
        assert_ne!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{name}: {}",
            reply.body
        );
        assert!(reply.body["error"].is_string(), "{}", reply.body);
    }
}

#[tokio::test]
async fn publish_wants_exactly_one_payload_field() {
    let app = TestApp::new();
    let id = client(&app).await;
    let path = format!("/api/clients/{id}/publish");
    for body in [
        json!({"topic": "a/b"}),
        json!({"topic": "a/b", "message": "hi", "payload_base64": "aGk="}),
    ] {
        let reply = app.post(&path, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        assert!(reply.error().contains("message"), "{}", reply.error());
        assert!(
            reply.error().contains("payload_base64"),
            "{}",
            reply.error()
        );
    }
}

#[tokio::test]
async fn publish_refuses_malformed_bodies() {
    let app = TestApp::new();
    let id = client(&app).await;
    let path = format!("/api/clients/{id}/publish");
    let cases: [(Value, &str); 5] = [
        (
            json!({"topic": "a/b", "payload_base64": "not base64!"}),
            "payload_base64",
        ),
        (json!({"topic": "a/b", "message": {"value": 1}}), "message"),
        (json!({"message": "hi"}), "topic"),
        (json!({"topic": "a/b", "payload": "hi"}), "payload"),
        (json!(["a/b", "hi"]), ""),
    ];
    for (body, named) in cases {
        let reply = app.post(&path, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        assert!(reply.error().contains(named), "{body}: {}", reply.error());
    }
}

#[tokio::test]
async fn publish_refuses_topics_that_name_no_single_topic() {
    let app = TestApp::new();
    let id = client(&app).await;
    for topic in ["", "a/+", "a/#"] {
        let reply = app
            .post(
                &format!("/api/clients/{id}/publish"),
                json!({"topic": topic, "message": "hi"}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{topic:?}: {}",
            reply.body
        );
        assert!(reply.error().contains("topic"), "{}", reply.error());
    }
}

#[tokio::test]
async fn subscribe_and_unsubscribe_validate_the_filter() {
    let app = TestApp::new();
    let id = client(&app).await;
    for route in ["subscribe", "unsubscribe"] {
        let path = format!("/api/clients/{id}/{route}");
        let reply = app.post(&path, json!({"topic": "a/#/b"})).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{route}: {}",
            reply.body
        );
        assert!(reply.error().contains("a/#/b"), "{}", reply.error());

        for body in [
            json!({}),
            json!({"topic": 5}),
            json!({"topic": "a", "qos": 1}),
        ] {
            let reply = app.post(&path, body.clone()).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{route} {body}: {}",
                reply.body
            );
        }
    }
}
