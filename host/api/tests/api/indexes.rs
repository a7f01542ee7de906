//! `/api/indexes`: declaring, listing and removing secondary indexes over REST, and lists
//! that filter on an indexed property answering as before.

use crate::common::TestApp;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn indexes_are_declared_listed_used_and_removed() {
    let app = TestApp::new();
    for n in 0..30 {
        let sensor = format!("s{}", n % 3);
        app.create("Reading", json!({"sensor": sensor, "value": n}))
            .await;
    }
    let created = app
        .send(Method::PUT, "/api/indexes/Reading/sensor", Value::Null)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["indexed"], 30);
    let again = app
        .send(Method::PUT, "/api/indexes/Reading/sensor", Value::Null)
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let listed = app.get("/api/indexes").await;
    assert_eq!(
        listed.body["result"],
        json!([{"type": "Reading", "property": "sensor"}])
    );

    let page = app
        .get("/api/objects/Reading?sensor=s1&_sort=value&_limit=3")
        .await;
    let values: Vec<&Value> = page.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["value"])
        .collect();
    assert_eq!(values, [&json!(1), &json!(4), &json!(7)]);
    assert_eq!(page.body["total"], 10);

    let bad = app
        .send(Method::PUT, "/api/indexes/No-Such/sensor", Value::Null)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let removed = app
        .request(Method::DELETE, "/api/indexes/Reading/sensor")
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gone = app
        .request(Method::DELETE, "/api/indexes/Reading/sensor")
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(
        gone.error().contains("no index on Reading.sensor"),
        "{}",
        gone.body
    );
}
