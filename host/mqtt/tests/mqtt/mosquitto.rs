//! Against Mosquitto: an external broker that requires a username and password.

use rumqttc::MqttOptions;
use serde_json::json;
use switchyard_test_support::mosquitto::{Mosquitto, PASSWORD, USER};

use crate::common::*;

/// A Mosquitto of the test's own, in a temporary directory.
async fn mosquitto() -> (Mosquitto, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    (Mosquitto::start(dir.path()).await, dir)
}

#[tokio::test]
async fn credentials_are_used_and_a_refusal_is_reported_without_the_password() {
    let (broker, _dir) = mosquitto().await;
    let test = store();
    let store = &test.store;
    let recorder = Recorder::new(store);
    let mqtt = manager(store, recorder.clone(), None);
    let url = format!("mqtt://127.0.0.1:{}", broker.addr.port());

    let wrong = "wrong-password-42";
    let refused = create(
        store,
        "MQTTClient",
        json!({"mainBrokerURL": url, "username": USER, "password": wrong, "isEnabled": true}),
    );
    let error = until_error(store, &refused).await;
    assert!(error.contains("refused the connection"), "{error}");
    assert!(
        !error.contains(wrong),
        "lastError must not show the password: {error}"
    );

    let id = create(
        store,
        "MQTTClient",
        json!({"mainBrokerURL": url, "username": USER, "password": PASSWORD, "isEnabled": true, "qos": 1}),
    );
    until_connected(store, &id).await;

    subscriber(store, "plant/+/pressure", &id);
    let mut options = MqttOptions::new("pump", "127.0.0.1", broker.addr.port());
    options.set_credentials(USER, PASSWORD);
    let mut device = Device::connect(options).await;
    let message = publish_until_dispatched(&device, &recorder, "plant/p1/pressure", "4.2").await;
    assert_eq!(message.client_id, id);

    device.subscribe("orders/#").await;
    mqtt.publish(&id, "orders/1", b"open valve".to_vec())
        .await
        .expect("publish");
    assert_eq!(
        device.next().await,
        ("orders/1".to_owned(), b"open valve".to_vec())
    );
    mqtt.shutdown().await;
}
