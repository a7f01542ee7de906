//! AssemblyScript handlers end to end: the plugins in `plugins/order-as` and `plugins/glue-as`
//! are built from source with npm, uploaded as the single core-module file the build makes
//! (the server turns it into a component), and driven through the embedded broker. They are
//! built against `switchyard:plugin@0.2.0`, so they also show that plugins of that world run.

use switchyard_test_support as support;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;
use support::plugins::as_plugin;
use support::{MqttPeer, Server};

const WAIT: Duration = Duration::from_secs(30);

/// A server with one enabled client and a subscriber running `plugin` on `topic`.
async fn setup(dir: &std::path::Path, plugin: (&str, &str), topic: &str) -> (Server, String) {
    let server = Server::start(dir).await;
    let info = server.upload("as", &as_plugin(plugin.0, plugin.1)).await;
    assert_eq!(info["kind"], "module", "{info}");
    // The SDK still speaks 0.2.0: the host runs plugins of the earlier world unchanged.
    assert_eq!(info["world"], "switchyard:plugin/plugin@0.2.0", "{info}");
    // Nor does it export a batch handler, so batches are refused with the reason.
    let batch = json!({"limits": {"batch": 8}});
    let (status, refused) = server.patch("/api/plugins/as", batch).await;
    assert_eq!(status, 422, "{refused}");
    let error = refused["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("`batch` 8 needs a plugin of the switchyard:plugin/batch-plugin@0.2.1"),
        "{refused}"
    );
    let subscriber = server.subscribe_plugin("as", topic).await;
    (server, subscriber)
}

#[tokio::test]
async fn order_plugin_stores_orders_and_confirms_them() {
    let dir = tempfile::tempdir().unwrap();
    let (server, subscriber) = setup(
        dir.path(),
        ("plugins/order-as", "order_as.wasm"),
        "orders/new",
    )
    .await;
    let mut device = MqttPeer::connect(server.mqtt, None, &["orders/+/confirmed"]).await;

    let order = json!({"orderId": "o1", "item": "widget", "quantity": 3, "price": 2.5}).to_string();
    let (topic, payload) = device.publish_until_received("orders/new", order).await;
    assert_eq!(topic, "orders/o1/confirmed");
    let confirmation: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        confirmation,
        json!({"orderId": "o1", "status": "accepted", "total": 7.5})
    );
    let stored = server.wait_for("Order", "orderId=o1", 1).await.remove(0);
    assert_eq!(
        (
            &stored["item"],
            &stored["quantity"],
            &stored["price"],
            &stored["total"],
            &stored["topic"]
        ),
        (
            &json!("widget"),
            &json!(3),
            &json!(2.5),
            &json!(7.5),
            &json!("orders/new")
        )
    );

    device.publish("orders/new", "{not json").await;
    device
        .publish(
            "orders/new",
            json!({"orderId": "o2", "item": "x"}).to_string(),
        )
        .await;
    let failed = server.wait_for("FailedMessage", "", 2).await;
    assert!(
        failed
            .iter()
            .all(|f| f["subscriber"] == subscriber.as_str())
    );
    let errors: Vec<&str> = failed
        .iter()
        .map(|f| f["error"].as_str().unwrap())
        .collect();
    assert!(errors.iter().any(|e| e.contains("quantity")), "{errors:?}");

    let order = json!({"orderId": "o3", "item": "gear", "quantity": 1, "price": 10}).to_string();
    device.publish("orders/new", order).await;
    assert_eq!(device.next(WAIT).await.0, "orders/o3/confirmed");
    assert_eq!(
        server.list("Order", "").await.len(),
        2,
        "a failed order was stored"
    );
}

/// Bytes of every value, repeated to `len`.
fn bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

#[tokio::test]
async fn glue_carries_payloads_of_every_size_text_and_host_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = setup(dir.path(), ("plugins/glue-as", "glue_as.wasm"), "glue/#").await;
    let mut device = MqttPeer::connect(server.mqtt, None, &["echo/#"]).await;
    device
        .publish_until_received("glue/in", "echo warm-up")
        .await;

    for size in [0, 1, 64 << 10, 1 << 20] {
        let mut payload = b"echo ".to_vec();
        payload.extend(bytes(size));
        device.publish("glue/in", payload.clone()).await;
        let (topic, echoed) = device.next(WAIT).await;
        assert_eq!(topic, "echo/glue/in");
        assert!(
            echoed == payload,
            "payload of {size} bytes came back changed"
        );
        let digest = hex::encode(Sha256::digest(&payload));
        let echo = server
            .wait_for("Echo", &format!("sha256={digest}"), 1)
            .await
            .remove(0);
        assert_eq!(echo["size"], payload.len());
    }

    for text in ["", "a", "grüße, 東京, 🚀", &"ü€𝄞".repeat(16 << 10)] {
        device.publish("glue/in", format!("roundtrip {text}")).await;
        let stored = server.wait_for("RoundTrip", "", 1).await.remove(0);
        assert_eq!(stored["text"], text);
        let path = format!("/api/objects/RoundTrip/{}", stored["id"].as_str().unwrap());
        server.call(reqwest::Method::DELETE, &path, None).await;
    }

    device.publish("glue/in", "badcalls").await;
    let calls = server.wait_for("BadCalls", "", 1).await.remove(0);
    assert_eq!(
        (&calls["create"], &calls["update"], &calls["publish"]),
        (&json!("invalid"), &json!("not-found"), &json!("not-found"))
    );

    // A 0.2.0 AssemblyScript plugin gets the `denied` error for calls outside its capabilities.
    device.publish("glue/in", "denied").await;
    let denied = server.wait_for("Denied", "", 1).await.remove(0);
    assert_eq!(
        (&denied["create"], &denied["find"]),
        (&json!("denied"), &json!("denied"))
    );
    assert!(
        denied["createMessage"]
            .as_str()
            .unwrap()
            .contains("built-in type"),
        "{denied}"
    );
}

#[tokio::test]
async fn a_handler_that_throws_fails_cleanly_and_the_next_message_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = setup(dir.path(), ("plugins/glue-as", "glue_as.wasm"), "glue/#").await;
    let device = MqttPeer::connect(server.mqtt, None, &[]).await;
    server
        .publish_until_stored(&device, ("glue/in", "ok 1"), ("ChaosRecord", "n=1"))
        .await;

    device.publish("glue/in", "trap").await;
    let failed = server
        .wait_for("FailedMessage", "payload=trap", 1)
        .await
        .remove(0);
    assert!(
        failed["error"].as_str().unwrap().contains("trapped"),
        "{failed}"
    );
    let logs = server.logs();
    assert!(
        logs.contains("asked to trap"),
        "the thrown reason is logged: {logs}"
    );

    device.publish("glue/in", "ok 2").await;
    server.wait_for("ChaosRecord", "n=2", 1).await;
    assert_eq!(
        server.list("ChaosRecord", "").await.len(),
        2,
        "the trapped call's write was kept"
    );
}
