//! `/api/objects/...`: the object routes' happy paths and every kind of bad input.

use crate::common::TestApp;
use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use switchyard_api::BodyLimits;

async fn readings(app: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    for (sensor, value) in [("t1", 21.5), ("t2", 35.0), ("t1", 31.0)] {
        ids.push(
            app.create(
                "TemperatureReading",
                json!({"sensorId": sensor, "value": value}),
            )
            .await,
        );
    }
    ids
}

fn values(page: &Value) -> Vec<f64> {
    page["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|object| object["value"].as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn create_returns_the_stored_object_and_where_it_lives() {
    let app = TestApp::new();
    let reply = app
        .post("/api/objects/Order", json!({"item": "valve", "count": 3}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.id();
    assert_eq!(reply.body["type"], "Order");
    assert_eq!(reply.body["item"], "valve");
    assert_eq!(reply.body["count"], 3);
    assert!(reply.body["createdAt"].is_string());
    assert!(reply.body["updatedAt"].is_string());
    let location = format!("/api/objects/Order/{id}");
    assert_eq!(reply.headers[header::LOCATION], location.as_str());

    let read = app.get(&location).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, reply.body);
}

#[tokio::test]
async fn list_filters_sorts_and_pages() {
    let app = TestApp::new();
    readings(&app).await;
    app.create("Order", json!({"sensorId": "t1"})).await;

    let all = app.get("/api/objects/TemperatureReading").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.body["total"], 3);

    let page = app
        .get("/api/objects/TemperatureReading?sensorId=t1&_sort=value&_order=desc&_limit=1")
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["total"], 2);
    assert_eq!(values(&page.body), [31.0]);

    let next = app
        .get("/api/objects/TemperatureReading?sensorId=t1&_sort=value&_order=desc&_limit=1&_offset=1")
        .await;
    assert_eq!(values(&next.body), [21.5]);

    let none = app.get("/api/objects/NeverCreated").await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.body, json!({"result": [], "total": 0}));
}

#[tokio::test]
async fn query_takes_operator_filters_in_the_body() {
    let app = TestApp::new();
    readings(&app).await;
    let reply = app
        .post(
            "/api/objects/TemperatureReading/query",
            json!({
                "filters": [{"column": "value", "operator": "gt", "value": 30}],
                "sort": "value",
                "order": "asc",
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["total"], 2);
    assert_eq!(values(&reply.body), [31.0, 35.0]);
}

#[tokio::test]
async fn patch_merges_and_null_removes() {
    let app = TestApp::new();
    let id = app
        .create("Order", json!({"item": "valve", "note": "urgent"}))
        .await;
    let path = format!("/api/objects/Order/{id}");
    let reply = app
        .send(Method::PATCH, &path, json!({"count": 2, "note": null}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["item"], "valve");
    assert_eq!(reply.body["count"], 2);
    assert!(reply.body.get("note").is_none());
    assert_eq!(app.get(&path).await.body, reply.body);
}

#[tokio::test]
async fn put_replaces_every_property() {
    let app = TestApp::new();
    let id = app
        .create("Order", json!({"item": "valve", "count": 1}))
        .await;
    let path = format!("/api/objects/Order/{id}");
    let reply = app.send(Method::PUT, &path, json!({"item": "pump"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["item"], "pump");
    assert!(reply.body.get("count").is_none());
    assert_eq!(reply.body["id"], id.as_str());
    assert_eq!(reply.body["type"], "Order");
}

#[tokio::test]
async fn delete_answers_204_then_404() {
    let app = TestApp::new();
    let id = app.create("Order", json!({})).await;
    let path = format!("/api/objects/Order/{id}");
    let reply = app.request(Method::DELETE, &path).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.body, Value::Null);
    assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
    let again = app.request(Method::DELETE, &path).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.error().contains(&id), "{}", again.error());
}

#[tokio::test]
async fn an_unknown_id_is_404_on_every_method() {
    let app = TestApp::new();
    let path = "/api/objects/Order/no-such-id";
    for reply in [
        app.get(path).await,
        app.send(Method::PATCH, path, json!({"a": 1})).await,
        app.send(Method::PUT, path, json!({"a": 1})).await,
        app.request(Method::DELETE, path).await,
    ] {
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
        assert!(reply.error().contains("no-such-id"), "{}", reply.error());
    }
}

#[tokio::test]
async fn an_id_of_another_type_is_404_and_left_alone() {
    let app = TestApp::new();
    let id = app.create("Order", json!({"item": "valve"})).await;
    let path = format!("/api/objects/Invoice/{id}");
    for reply in [
        app.get(&path).await,
        app.send(Method::PATCH, &path, json!({"item": "x"})).await,
        app.send(Method::PUT, &path, json!({"item": "x"})).await,
        app.request(Method::DELETE, &path).await,
    ] {
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
        assert!(reply.error().contains("Invoice"), "{}", reply.error());
    }
    let order = app.get(&format!("/api/objects/Order/{id}")).await;
    assert_eq!(order.status, StatusCode::OK);
    assert_eq!(order.body["item"], "valve");
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::new();
    let id = app.create("Order", json!({})).await;
    for (method, path) in [
        (Method::POST, "/api/objects/Order".to_owned()),
        (Method::POST, "/api/objects/Order/query".to_owned()),
        (Method::PATCH, format!("/api/objects/Order/{id}")),
        (Method::PUT, format!("/api/objects/Order/{id}")),
    ] {
        let reply = app
            .send_bytes(method.clone(), &path, "application/json", "{\"item\": ")
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{method} {path}");
        assert!(!reply.error().is_empty());
    }
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_400() {
    let app = TestApp::new();
    let id = app.create("Order", json!({})).await;
    for (method, path) in [
        (Method::POST, "/api/objects/Order".to_owned()),
        (Method::PATCH, format!("/api/objects/Order/{id}")),
        (Method::PUT, format!("/api/objects/Order/{id}")),
    ] {
        for body in [json!([1, 2]), json!("text"), json!(null)] {
            let reply = app.send(method.clone(), &path, body.clone()).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{method} {path} {body}"
            );
            assert!(reply.error().contains("JSON object"), "{}", reply.error());
        }
    }
}

#[tokio::test]
async fn json_routes_want_a_json_content_type() {
    let app = TestApp::new();
    let reply = app
        .send_bytes(Method::POST, "/api/objects/Order", "text/plain", "{}")
        .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        reply.error().contains("application/json"),
        "{}",
        reply.error()
    );
}

#[tokio::test]
async fn invalid_built_in_fields_are_422_naming_the_field() {
    let app = TestApp::new();
    let cases = [
        (
            "MQTTClient",
            json!({"mainBrokerURL": "http://example.com"}),
            "mainBrokerURL",
        ),
        ("MQTTClient", json!({"name": "c"}), "mainBrokerURL"),
        (
            "MQTTClient",
            json!({"mainBrokerURL": "embedded", "qos": 7}),
            "qos",
        ),
        (
            "MessageSubscriber",
            json!({"callback": "recorder"}),
            "topic",
        ),
        (
            "MessageSubscriber",
            json!({"topic": "a/#/b", "callback": "recorder"}),
            "topic",
        ),
    ];
    for (type_name, body, field) in cases {
        let reply = app
            .post(&format!("/api/objects/{type_name}"), body.clone())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{type_name} {body}: {}",
            reply.body
        );
        assert!(
            reply.error().contains(field),
            "{type_name} {body}: {}",
            reply.error()
        );
    }

    let id = app
        .create("MQTTClient", json!({"mainBrokerURL": "embedded"}))
        .await;
    let path = format!("/api/objects/MQTTClient/{id}");
    let reply = app.send(Method::PATCH, &path, json!({"qos": "high"})).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(reply.error().contains("qos"), "{}", reply.error());
    let reply = app
        .send(Method::PUT, &path, json!({"name": "no url"}))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(reply.error().contains("mainBrokerURL"), "{}", reply.error());
}

#[tokio::test]
async fn reserved_properties_cannot_be_written() {
    let app = TestApp::new();
    for field in ["id", "type", "createdAt", "updatedAt", "version"] {
        let reply = app.post("/api/objects/Order", json!({field: "x"})).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            reply.body
        );
        assert!(reply.error().contains(field), "{}", reply.error());
    }
}

#[tokio::test]
async fn invalid_type_names_are_refused() {
    let app = TestApp::new();
    for type_name in ["bad%20type", "has.dot", "%C3%A9t%C3%A9"] {
        let reply = app
            .post(&format!("/api/objects/{type_name}"), json!({}))
            .await;
        assert!(
            reply.status.is_client_error(),
            "{type_name}: {}",
            reply.status
        );
        assert!(reply.error().contains("type"), "{}", reply.error());
        let reply = app.get(&format!("/api/objects/{type_name}")).await;
        assert!(
            reply.status.is_client_error(),
            "{type_name}: {}",
            reply.status
        );
    }
}

#[tokio::test]
async fn passwords_are_never_returned() {
    let app = TestApp::new();
    let reply = app
        .post(
            "/api/objects/MQTTClient",
            json!({"mainBrokerURL": "embedded", "username": "u", "password": "hunter2"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.id();
    let path = format!("/api/objects/MQTTClient/{id}");
    let patched = app
        .send(Method::PATCH, &path, json!({"name": "plant"}))
        .await;
    let listed = app.get("/api/objects/MQTTClient").await;
    let queried = app
        .post("/api/objects/MQTTClient/query", json!({"name": "plant"}))
        .await;
    for body in [
        reply.body,
        app.get(&path).await.body,
        patched.body,
        listed.body,
        queried.body,
    ] {
        assert!(!body.to_string().contains("hunter2"), "{body}");
    }
}

#[tokio::test]
async fn bad_query_parameters_are_400() {
    let app = TestApp::new();
    for query in ["_limit=many", "_offset=-1", "_order=sideways"] {
        let reply = app.get(&format!("/api/objects/Order?{query}")).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.body
        );
        let name = query.split('=').next().unwrap();
        assert!(reply.error().contains(name), "{query}: {}", reply.error());
    }
    for body in [
        json!({"filters": [{"column": "a", "operator": "like", "value": 1}]}),
        json!({"limit": "ten"}),
        json!([1]),
    ] {
        let reply = app.post("/api/objects/Order/query", body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
    }
}

#[tokio::test]
async fn a_body_over_the_json_limit_is_413() {
    let app = TestApp::new();
    let big = json!({"blob": "x".repeat(BodyLimits::default().json)});
    let reply = app.post("/api/objects/Order", big).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.error().contains("1048576"), "{}", reply.error());

    let app = TestApp::with_limits(BodyLimits {
        json: 64,
        ..BodyLimits::default()
    });
    assert_eq!(
        app.post("/api/objects/Order", json!({"a": 1})).await.status,
        StatusCode::CREATED
    );
    let reply = app
        .post("/api/objects/Order", json!({"blob": "x".repeat(100)}))
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.error().contains("64 bytes"), "{}", reply.error());
}
