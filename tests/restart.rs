//! Everything survives a restart: plugins (loaded from their cached compiled artifact, not
//! recompiled), clients (enabled ones reconnect), subscribers, objects and the generated token.

use switchyard_test_support as support;

use serde_json::json;
use support::plugins::plugin;
use support::{MqttPeer, Options, Server};

#[tokio::test]
async fn state_survives_a_restart_and_enabled_clients_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start_with(
        dir.path(),
        Options {
            token: None,
            ..Options::default()
        },
    )
    .await;
    let token = first.token.clone();
    assert_eq!(
        token.len(),
        48,
        "a generated token is printed once: {token}"
    );
    first.upload("recorder", &plugin("recorder")).await;
    let client = first
        .connected_client(json!({"name": "site", "mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    let idle = first
        .create("MQTTClient", json!({"mainBrokerURL": "embedded"}))
        .await;
    first
        .create(
            "MessageSubscriber",
            json!({"topic": "s/+", "callback": "recorder", "clients": [client]}),
        )
        .await;
    let device = MqttPeer::connect(first.mqtt, None, &[]).await;
    let reading = json!({"sensorId": "before", "value": 1}).to_string();
    first
        .publish_until_stored(
            &device,
            ("s/a", &reading),
            ("TemperatureReading", "sensorId=before"),
        )
        .await;
    let (http, mqtt) = (first.http, first.mqtt);
    first.stop();

    let options = Options {
        token: None,
        http: Some(http),
        mqtt: Some(mqtt),
        ..Options::default()
    };
    let mut second = Server::start_with(dir.path(), options).await;
    assert!(
        !second.logs().contains(&token),
        "the token is printed only at first start"
    );
    second.token = token;

    let (_, plugins) = second.get("/api/plugins").await;
    assert_eq!(plugins["result"][0]["name"], "recorder", "{plugins}");
    assert!(
        !second.logs().contains("recompiling"),
        "plugin was recompiled at restart"
    );
    assert!(
        !second
            .list("TemperatureReading", "sensorId=before")
            .await
            .is_empty()
    );
    assert_eq!(second.list("MessageSubscriber", "").await.len(), 1);
    second.wait_connected(&client).await;
    let (_, idle) = second
        .get(&format!(
            "/api/objects/MQTTClient/{}",
            idle["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(idle["isConnected"], false);

    let device = MqttPeer::connect(second.mqtt, None, &[]).await;
    let reading = json!({"sensorId": "after", "value": 2}).to_string();
    second
        .publish_until_stored(
            &device,
            ("s/b", &reading),
            ("TemperatureReading", "sensorId=after"),
        )
        .await;
}
