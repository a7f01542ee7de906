//! `KafkaClient`s end to end against a real Kafka-protocol broker (tansu, see
//! `support::kafka`): consuming into callbacks with key and headers, publishing from callbacks
//! and over REST, consumer groups, and offsets committed only after the callbacks' writes are
//! durable (SIGKILL mid-stream loses nothing).

use switchyard_test_support as support;

use serde_json::{Value, json};
use std::time::Duration;
use support::kafka::{self, Tansu};
use support::plugins::plugin;
use support::{Options, Server, eventually};

/// A topic name no other test uses.
fn topic(prefix: &str) -> String {
    format!("{prefix}-{}", support::free_port())
}

/// Creates an enabled `KafkaClient` in `group` and waits until it is connected; returns its id.
async fn kafka_client(server: &Server, broker: &Tansu, group: &str) -> String {
    let client = server
        .create(
            "KafkaClient",
            json!({"name": group, "servers": [broker.addr], "groupId": group, "isEnabled": true}),
        )
        .await;
    let id = client["id"].as_str().unwrap().to_owned();
    status(server, &id, "connected", |c| {
        c["isConnected"] == json!(true)
    })
    .await;
    id
}

/// Waits until the Kafka client satisfies `check`; returns it.
async fn status(server: &Server, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    server.client_status(("KafkaClient", id), what, check).await
}

#[tokio::test]
async fn callbacks_consume_kafka_with_key_and_headers_and_publish_back() {
    let broker = kafka::broker();
    let (orders, confirmations) = (topic("orders"), topic("confirmations"));
    broker.create_topic(&orders, 3);
    broker.create_topic(&confirmations, 1);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    server.upload("chaos", &plugin("chaos")).await;
    server.upload("forwarder", &plugin("forwarder")).await;
    let client = kafka_client(&server, broker, "shop").await;
    server
        .subscriber(&orders, "chaos", &client, json!({}))
        .await;
    server
        .subscriber(
            &orders,
            "forwarder",
            &client,
            json!({"forwardTo": confirmations}),
        )
        .await;

    let producer = broker.producer();
    let headers = [("source", "till-7")];
    kafka::produce(&producer, &orders, Some("order-1"), &headers, "meta").await;
    let meta = server.wait_for("Meta", "", 1).await.remove(0);
    assert_eq!(
        (meta["topic"].as_str(), meta["key"].as_str()),
        (Some(orders.as_str()), Some("order-1"))
    );
    assert_eq!(meta["headers"]["source"], "till-7");
    assert!(meta["headers"]["kafka.partition"].is_string(), "{meta}");
    assert_eq!(meta["headers"]["kafka.offset"], "0", "{meta}");

    for n in 1..=20 {
        kafka::produce(&producer, &orders, None, &[], &format!("ok {n}")).await;
    }
    server
        .wait_for("ChaosRecord", &format!("topic={orders}&_limit=100"), 20)
        .await;

    // The forwarder published every order back to Kafka; REST publishes too.
    let downstream = broker.consumer("downstream", &[&confirmations]);
    let (status, body) = server
        .post(
            &format!("/api/clients/{client}/publish"),
            json!({"topic": confirmations, "message": "by hand"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let received = kafka::receive(&downstream, 22).await;
    assert!(received.contains(&"ok 20".to_owned()) && received.contains(&"by hand".to_owned()));

    // Kafka topic names have no levels: a `/` is refused with the rule.
    let (status, body) = server
        .post(
            &format!("/api/clients/{client}/publish"),
            json!({"topic": "orders/eu", "message": "x"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not a Kafka topic name"),
        "{body}"
    );
    // A message Kafka's default 1 MB limit cannot take is refused before it is sent.
    let big = "x".repeat(1_010_000);
    let (status, body) = server
        .post(
            &format!("/api/clients/{client}/publish"),
            json!({"topic": confirmations, "message": big}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("message too large"),
        "{body}"
    );
}

#[tokio::test]
async fn groups_each_see_every_message_and_share_partitions_within_a_group() {
    let broker = kafka::broker();
    let events = topic("events");
    broker.create_topic(&events, 4);
    let dir = tempfile::tempdir().unwrap();
    // `a` and `b` share the group `workers`; `c` reads the same topic in the group `audit`.
    let mut servers = Vec::new();
    for (name, group) in [("a", "workers"), ("b", "workers"), ("c", "audit")] {
        let home = dir.path().join(name);
        std::fs::create_dir_all(&home).unwrap();
        let server = Server::start(&home).await;
        server.upload("chaos", &plugin("chaos")).await;
        let client = kafka_client(&server, broker, group).await;
        server
            .subscriber(&events, "chaos", &client, json!({}))
            .await;
        servers.push(server);
    }
    let producer = broker.producer();
    const MESSAGES: u64 = 200;
    for n in 0..MESSAGES {
        let key = format!("k{n}");
        kafka::produce(&producer, &events, Some(&key), &[], &format!("ok {n}")).await;
    }
    let all: std::collections::BTreeSet<u64> = (0..MESSAGES).collect();
    let (a, b, c) = (&servers[0], &servers[1], &servers[2]);
    let (in_a, in_b) = eventually("every event consumed", Duration::from_secs(60), || async {
        let (in_a, in_b) = (
            a.chaos_numbers(&events).await,
            b.chaos_numbers(&events).await,
        );
        let shared: std::collections::BTreeSet<u64> = in_a.union(&in_b).copied().collect();
        (shared == all && c.chaos_numbers(&events).await == all).then_some((in_a, in_b))
    })
    .await;
    assert!(
        !in_a.is_empty() && !in_b.is_empty(),
        "one server of the group got every partition: a {}, b {}",
        in_a.len(),
        in_b.len()
    );
}

#[tokio::test]
async fn sigkill_mid_stream_loses_no_message_whose_offset_was_committed() {
    let broker = kafka::broker();
    let stream = topic("stream");
    broker.create_topic(&stream, 2);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    server.upload("chaos", &plugin("chaos")).await;
    let client = kafka_client(&server, broker, "durable").await;
    server
        .subscriber(&stream, "chaos", &client, json!({}))
        .await;

    const MESSAGES: u64 = 1000;
    let producer = broker.producer();
    for n in 0..MESSAGES {
        kafka::produce(&producer, &stream, None, &[], &format!("slow-ok {n}")).await;
    }
    // Kill it once it is well into the stream, with offsets committed and messages in flight.
    eventually(
        "the stream to be under way",
        Duration::from_secs(60),
        || async { (server.chaos_numbers(&stream).await.len() > 300).then_some(()) },
    )
    .await;
    server.kill();
    // Fresh ports: nothing here needs the old ones, which another process may hold by now.
    let options = Options {
        token: Some(server.token.clone()),
        ..Options::default()
    };
    let again = Server::start_with(dir.path(), options).await;
    let all: std::collections::BTreeSet<u64> = (0..MESSAGES).collect();
    eventually(
        "every message after the restart",
        Duration::from_secs(120),
        || async { (again.chaos_numbers(&stream).await == all).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn status_follows_the_broker_and_the_object_live() {
    let mut broker = kafka::own_broker();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let client = server
        .create(
            "KafkaClient",
            json!({"servers": [broker.addr], "groupId": "g", "isEnabled": true, "sasl.password": "hidden"}),
        )
        .await;
    let id = client["id"].as_str().unwrap().to_owned();
    let connected = |c: &Value| c["isConnected"] == json!(true) && c["lastError"].is_null();
    status(&server, &id, "connected", connected).await;

    broker.kill();
    let down = status(&server, &id, "to notice the broker is gone", |c| {
        c["isConnected"] == json!(false) && c["lastError"].is_string()
    })
    .await;
    assert!(!down.to_string().contains("hidden"), "{down}");
    broker.restart();
    status(&server, &id, "to reconnect by itself", connected).await;

    let path = format!("/api/objects/KafkaClient/{id}");
    let (code, _) = server.patch(&path, json!({"isEnabled": false})).await;
    assert_eq!(code, 200);
    status(&server, &id, "disconnected", |c| {
        c["isConnected"] == json!(false)
    })
    .await;
    let (code, _) = server
        .patch(&path, json!({"isEnabled": true, "groupId": "h"}))
        .await;
    assert_eq!(code, 200);
    status(&server, &id, "connected again", connected).await;
    let (code, body) = server.patch(&path, json!({"startOffset": "middle"})).await;
    assert_eq!(code, 422, "{body}");
}

/// The README's Kafka walk-through: order events become `Order` objects and each order's
/// confirmation is published back to Kafka.
#[tokio::test]
async fn orders_from_kafka_become_objects_and_are_confirmed_on_kafka() {
    let broker = kafka::broker();
    let (orders, confirmed) = (topic("orders"), topic("orders-confirmed"));
    broker.create_topic(&orders, 3);
    broker.create_topic(&confirmed, 1);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let order_plugin = support::plugins::as_plugin("plugins/order-as", "order_as.wasm");
    server.upload("orders", &order_plugin).await;
    let client = kafka_client(&server, broker, "shop").await;
    server
        .subscriber(
            &orders,
            "orders",
            &client,
            json!({"confirmTopic": confirmed}),
        )
        .await;

    let producer = broker.producer();
    let order = r#"{"orderId":"o1","item":"widget","quantity":3,"price":2.5}"#;
    kafka::produce(&producer, &orders, Some("o1"), &[], order).await;
    let stored = server.wait_for("Order", "orderId=o1", 1).await.remove(0);
    assert_eq!(stored["total"], 7.5);
    let confirmations = broker.consumer("confirmations", &[&confirmed]);
    let received = kafka::receive(&confirmations, 1).await;
    let confirmation: Value = serde_json::from_str(&received[0]).unwrap();
    assert_eq!(
        confirmation,
        json!({"orderId": "o1", "status": "accepted", "total": 7.5})
    );
}
