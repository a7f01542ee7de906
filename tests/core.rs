//! The first ten minutes, end to end: real server, plugins built from source and uploaded over
//! REST, clients and subscribers created over REST, messages published by real MQTT clients to
//! the embedded broker and to an external Mosquitto.

use switchyard_test_support as support;

use serde_json::{Value, json};
use std::time::Duration;
use support::mosquitto::{self, Mosquitto};
use support::plugins::plugin;
use support::{MqttPeer, Server};

const WAIT: Duration = Duration::from_secs(20);

/// Publishes probe readings until the recorder has stored one, so the subscription is live.
async fn wait_routed(server: &Server, device: &MqttPeer, topic: &str) {
    let probe = json!({"sensorId": "probe", "value": 0}).to_string();
    server
        .publish_until_stored(
            device,
            (topic, &probe),
            ("TemperatureReading", "sensorId=probe"),
        )
        .await;
}

#[tokio::test]
async fn recorder_stores_readings_and_alerts_above_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let info = server.upload("recorder", &plugin("recorder")).await;
    assert_eq!(info["name"], "recorder");
    assert_eq!(info["world"], "switchyard:plugin/batch-plugin@0.2.1");

    let client = server
        .connected_client(json!({"name": "site", "mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    server
        .create(
            "MessageSubscriber",
            json!({"topic": "sensors/+/temperature", "callback": "recorder",
                   "clients": [client], "threshold": 25}),
        )
        .await;

    let mut device = MqttPeer::connect(server.mqtt, None, &["alerts/#"]).await;
    wait_routed(&server, &device, "sensors/probe/temperature").await;

    device
        .publish(
            "sensors/t1/temperature",
            json!({"sensorId": "t1", "value": 21.5}).to_string(),
        )
        .await;
    device
        .publish(
            "sensors/t2/temperature",
            json!({"sensorId": "t2", "value": 31}).to_string(),
        )
        .await;

    let readings = server
        .wait_for("TemperatureReading", "sensorId=t1", 1)
        .await;
    assert_eq!(readings[0]["value"], 21.5);
    assert_eq!(readings[0]["topic"], "sensors/t1/temperature");
    assert_eq!(readings[0]["type"], "TemperatureReading");
    server
        .wait_for("TemperatureReading", "sensorId=t2", 1)
        .await;

    // Only t2 is above the subscriber's threshold of 25.
    let (topic, payload) = device.next(WAIT).await;
    assert_eq!(topic, "alerts/t2");
    let alert: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(alert, json!({"sensorId": "t2", "value": 31}));
    assert_eq!(
        device.nothing_within(Duration::from_millis(500)).await,
        None
    );

    // Queries over what the callback stored.
    let (_, page) = server
        .post(
            "/api/objects/TemperatureReading/query",
            json!({"filters": [{"column": "value", "operator": "gt", "value": 20}], "sort": "value", "order": "desc"}),
        )
        .await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["result"][0]["sensorId"], "t2");
}

#[tokio::test]
async fn forwarder_through_external_mosquitto_with_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    let server = Server::start(dir.path()).await;
    server.upload("forwarder", &plugin("forwarder")).await;

    let url = format!("mqtt://{}", broker.addr);
    let client = server
        .connected_client(json!({"mainBrokerURL": url, "username": mosquitto::USER,
                                 "password": mosquitto::PASSWORD, "qos": 1, "isEnabled": true}))
        .await;
    let (_, shown) = server
        .get(&format!("/api/objects/MQTTClient/{client}"))
        .await;
    assert!(
        shown.get("password").is_none(),
        "password returned: {shown}"
    );
    assert_eq!(shown["lastError"], Value::Null);
    assert!(
        !server.logs().contains(mosquitto::PASSWORD),
        "password in the log"
    );

    let subscriber = server
        .create(
            "MessageSubscriber",
            json!({"topic": "in/#", "callback": "forwarder", "clients": [client], "forwardTo": "out/fwd"}),
        )
        .await;
    let credentials = Some((mosquitto::USER, mosquitto::PASSWORD));
    let mut device = MqttPeer::connect(broker.addr, credentials, &["out/#"]).await;

    let payload: Vec<u8> = (0..=255u8).chain([0, 0xff, 0x80]).collect();
    let received = device
        .publish_until_received("in/raw", payload.clone())
        .await;
    assert_eq!(received, ("out/fwd".to_owned(), payload));

    // The subscriber comes with each message as it is now: a changed setting holds for the
    // next message.
    let path = format!(
        "/api/objects/MessageSubscriber/{}",
        subscriber["id"].as_str().unwrap()
    );
    let (status, _) = server.patch(&path, json!({"forwardTo": "out/moved"})).await;
    assert!(status.is_success());
    device.publish("in/raw", "after the change").await;
    // Copies of the first payload that `publish_until_received` sent may still come first.
    let after = loop {
        let (topic, payload) = device.next(WAIT).await;
        if payload == b"after the change" {
            break topic;
        }
    };
    assert_eq!(after, "out/moved");
}

#[tokio::test]
async fn publish_and_subscription_routes_drive_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    server.upload("forwarder", &plugin("forwarder")).await;
    let client = server
        .connected_client(json!({"name": "gw", "mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    let mut device = MqttPeer::connect(server.mqtt, None, &["api/#", "fwd/#"]).await;

    // publish by id with a text message, and by name with base64 bytes
    let (status, _) = server
        .post(
            &format!("/api/clients/{client}/publish"),
            json!({"topic": "api/text", "message": "héllo"}),
        )
        .await;
    assert!(status.is_success());
    assert_eq!(
        device.next(WAIT).await,
        ("api/text".into(), "héllo".as_bytes().to_vec())
    );
    let (status, _) = server
        .post(
            "/api/clients/gw/publish",
            json!({"topic": "api/bin", "payload_base64": "AAEC/w=="}),
        )
        .await;
    assert!(status.is_success());
    assert_eq!(
        device.next(WAIT).await,
        ("api/bin".into(), vec![0, 1, 2, 255])
    );

    // The unsubscribe and subscribe routes drop and restore the client's subscription.
    server
        .create(
            "MessageSubscriber",
            json!({"topic": "manual/+", "callback": "forwarder", "clients": [client], "forwardTo": "fwd/out"}),
        )
        .await;
    let forwarded = device.publish_until_received("manual/1", "one").await;
    assert_eq!(forwarded, ("fwd/out".into(), b"one".to_vec()));
    while device
        .nothing_within(Duration::from_millis(300))
        .await
        .is_some()
    {}

    let (status, body) = server
        .post(
            &format!("/api/clients/{client}/unsubscribe"),
            json!({"topic": "manual/+"}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    // The route answers once the UNSUBSCRIBE is on its way; give the broker a moment to apply it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    device.publish("manual/2", "two").await;
    assert_eq!(device.nothing_within(Duration::from_secs(1)).await, None);

    let (status, body) = server
        .post(
            &format!("/api/clients/{client}/subscribe"),
            json!({"topic": "manual/+"}),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let forwarded = device.publish_until_received("manual/3", "three").await;
    assert_eq!(forwarded, ("fwd/out".into(), b"three".to_vec()));
}

#[tokio::test]
async fn clients_connect_disconnect_fall_back_and_follow_subscriber_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    server.upload("recorder", &plugin("recorder")).await;

    // Nothing listens on the main URL, so the fallback (the embedded broker) is used.
    let dead = format!("mqtt://127.0.0.1:{}", support::free_port());
    let fallback = format!("mqtt://{}", server.mqtt);
    let created = server
        .create(
            "MQTTClient",
            json!({"mainBrokerURL": dead, "fallbackBrokerURLs": [fallback]}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["isConnected"], false);
    assert_eq!(created["isEnabled"], false);

    let path = format!("/api/objects/MQTTClient/{id}");
    server.patch(&path, json!({"isEnabled": true})).await;
    server.wait_connected(&id).await;

    // A subscriber's topic change applies without a restart.
    let subscriber = server
        .create(
            "MessageSubscriber",
            json!({"topic": "old/+", "callback": "recorder", "clients": [id]}),
        )
        .await;
    let device = MqttPeer::connect(server.mqtt, None, &[]).await;
    wait_routed(&server, &device, "old/probe").await;
    let sub_path = format!(
        "/api/objects/MessageSubscriber/{}",
        subscriber["id"].as_str().unwrap()
    );
    server.patch(&sub_path, json!({"topic": "new/#"})).await;
    let reading = json!({"sensorId": "moved", "value": 1}).to_string();
    server
        .publish_until_stored(
            &device,
            ("new/a/b", &reading),
            ("TemperatureReading", "sensorId=moved"),
        )
        .await;

    // Disabling disconnects; a client with only a dead URL reports why.
    server.patch(&path, json!({"isEnabled": false})).await;
    support::eventually("the client to disconnect", WAIT, || async {
        let (_, c) = server.get(&path).await;
        (c["isConnected"] == false).then_some(())
    })
    .await;
    let broken = server
        .create(
            "MQTTClient",
            json!({"mainBrokerURL": dead, "isEnabled": true}),
        )
        .await;
    let broken_path = format!("/api/objects/MQTTClient/{}", broken["id"].as_str().unwrap());
    let error = support::eventually("lastError to be set", WAIT, || async {
        let (_, c) = server.get(&broken_path).await;
        c["lastError"].as_str().map(str::to_owned)
    })
    .await;
    assert!(!error.is_empty());
    let (_, c) = server.get(&broken_path).await;
    assert_eq!(c["isConnected"], false);
}

#[tokio::test]
async fn reupload_hot_swaps_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    server.upload("handler", &plugin("forwarder")).await;
    let client = server
        .connected_client(json!({"mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    server
        .create(
            "MessageSubscriber",
            json!({"topic": "hot/#", "callback": "handler", "clients": [client], "forwardTo": "hot-out"}),
        )
        .await;
    let mut device = MqttPeer::connect(server.mqtt, None, &["hot-out"]).await;
    let reading = json!({"sensorId": "hs", "value": 5}).to_string();
    device
        .publish_until_received("hot/1", reading.clone())
        .await;

    let before = server.get("/api/plugins/handler").await.1;
    let after = server.upload("handler", &plugin("recorder")).await;
    assert_ne!(before["sha256"], after["sha256"]);
    device.publish("hot/2", reading).await;
    server
        .wait_for("TemperatureReading", "sensorId=hs", 1)
        .await;
}

/// `protocolVersion: 5` against Mosquitto: the client speaks MQTT 5, and a device's user
/// properties reach the callback as the message's `headers`.
#[tokio::test]
async fn an_mqtt5_client_hands_user_properties_to_callbacks_as_headers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    let server = Server::start(dir.path()).await;
    server.upload("chaos", &plugin("chaos")).await;
    let url = format!("mqtt://{}", broker.addr);
    let client = server
        .connected_client(json!({"mainBrokerURL": url, "username": mosquitto::USER,
            "password": mosquitto::PASSWORD, "qos": 1, "protocolVersion": 5, "isEnabled": true}))
        .await;
    let subscriber = json!({"topic": "v5/#", "callback": "chaos", "clients": [client]});
    server.create("MessageSubscriber", subscriber).await;
    let port = broker.addr.port().to_string();
    let found = support::eventually(
        "a Meta with the device's headers",
        Duration::from_secs(20),
        || async {
            let sent = std::process::Command::new("mosquitto_pub")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-u",
                    mosquitto::USER,
                    "-P",
                    mosquitto::PASSWORD,
                ])
                .args(["-V", "mqttv5", "-q", "1", "-t", "v5/meta", "-m", "meta"])
                .args(["-D", "publish", "user-property", "trace", "abc-123"])
                .output()
                .expect("running mosquitto_pub");
            assert!(
                sent.status.success(),
                "{}",
                String::from_utf8_lossy(&sent.stderr)
            );
            server
                .list("Meta", "topic=v5/meta")
                .await
                .into_iter()
                .next()
        },
    )
    .await;
    assert_eq!(found["headers"]["trace"], "abc-123", "{found}");
    let (status, body) = server
        .post(
            "/api/objects/MQTTClient",
            json!({"mainBrokerURL": url, "protocolVersion": 3}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("protocolVersion"),
        "{body}"
    );
}
