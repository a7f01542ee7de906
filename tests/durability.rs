//! Lose nothing: what Switchyard acknowledged survives a SIGKILL, a restarted broker, a flood
//! slower callbacks cannot keep up with, and concurrent writers. Every test runs real
//! processes (the `switchyard` binary, Mosquitto) and counts what a user would count.

use switchyard_test_support as support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::mosquitto::{self, Mosquitto};
use support::plugins::plugin;
use support::stream::Stream;
use support::{MqttPeer, Options, Server, eventually};

/// The numbers `n` of the stored `ChaosRecord`s.
async fn recorded(server: &Server) -> BTreeSet<u64> {
    let records = server.list("ChaosRecord", "_limit=1000000").await;
    records.iter().filter_map(|r| r["n"].as_u64()).collect()
}

/// Waits until every number in `acked` has its `ChaosRecord`; names the missing ones if not.
async fn wait_all_recorded(server: &Server, acked: &BTreeSet<u64>) {
    let mut missing = Vec::new();
    for _ in 0..1200 {
        let stored = recorded(server).await;
        missing = acked.difference(&stored).copied().collect();
        if missing.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let few = &missing[..missing.len().min(20)];
    panic!(
        "{} acknowledged messages have no ChaosRecord: {few:?}",
        missing.len()
    );
}

/// A client of `broker` with a persistent session at QoS 1, and a chaos subscriber on
/// `stream/#`; returns once a probe message went through.
async fn persistent_stream_client(server: &Server, broker: &Mosquitto, client_id: &str) -> String {
    server.upload("chaos", &plugin("chaos")).await;
    let client = server
        .connected_client(json!({
            "mainBrokerURL": format!("mqtt://{}", broker.addr),
            "username": mosquitto::USER, "password": mosquitto::PASSWORD,
            "qos": 1, "cleanSession": false, "clientId": client_id, "isEnabled": true,
        }))
        .await;
    server
        .create(
            "MessageSubscriber",
            json!({"topic": "stream/#", "callback": "chaos", "clients": [client]}),
        )
        .await;
    let device = MqttPeer::connect(
        broker.addr,
        Some((mosquitto::USER, mosquitto::PASSWORD)),
        &[],
    )
    .await;
    probe_stream(server, &device).await;
    client
}

/// Publishes a probe on `stream/` until its record is stored: the stream's path works.
async fn probe_stream(server: &Server, device: &MqttPeer) {
    let probe = ("stream/probe", "ok \"probe\"");
    server
        .publish_until_stored(device, probe, ("ChaosRecord", "n=probe"))
        .await;
}

/// A QoS 1 client of the embedded broker and a chaos subscriber on `stream/#`; returns once a
/// probe message went through.
async fn embedded_stream_client(server: &Server) {
    server.upload("chaos", &plugin("chaos")).await;
    let client = server
        .connected_client(json!({"mainBrokerURL": "embedded", "qos": 1, "isEnabled": true}))
        .await;
    let subscriber = json!({"topic": "stream/#", "callback": "chaos", "clients": [client]});
    server.create("MessageSubscriber", subscriber).await;
    let device = MqttPeer::connect(server.mqtt, None, &[]).await;
    probe_stream(server, &device).await;
}

fn numbered(i: u64) -> (String, Vec<u8>) {
    (format!("stream/{i}"), format!("ok {i}").into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_no_message_the_broker_acknowledged() {
    const MESSAGES: u64 = 3000;
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    let server = Server::start(dir.path()).await;
    persistent_stream_client(&server, &broker, "durable-kill").await;

    let creds = Some((mosquitto::USER, mosquitto::PASSWORD));
    let stream = Stream::start(broker.addr, creds, MESSAGES, Some(400), numbered);
    eventually("a few hundred records", Duration::from_secs(60), || async {
        (recorded(&server).await.len() >= 300).then_some(())
    })
    .await;
    let again = server.same_again();
    server.kill();
    // The stream goes on while Switchyard is down; Mosquitto keeps it for the session.
    while stream.acked() < 1500 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let server = Server::start_with(dir.path(), again).await;
    let acked = stream.finish().await;
    assert_eq!(acked.len() as u64, MESSAGES);
    wait_all_recorded(&server, &acked).await;
}

/// The embedded broker acknowledges a device's QoS 1 message only once its callbacks' writes
/// are on disk: a device streams 2,000 messages at 400/s, Switchyard is SIGKILLed mid-stream
/// and started again on the same ports, the device reconnects and sends again what was not
/// acknowledged, and every message it saw acknowledged has its record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_through_the_embedded_broker_loses_no_acknowledged_message() {
    const MESSAGES: u64 = 2000;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    embedded_stream_client(&server).await;

    let stream = Stream::start(server.mqtt, None, MESSAGES, Some(400), numbered);
    eventually(
        "a few hundred acknowledged",
        Duration::from_secs(60),
        || async { (stream.acked() >= 300).then_some(()) },
    )
    .await;
    let again = server.same_again();
    server.kill();
    let server = Server::start_with(dir.path(), again).await;
    let acked = stream.finish().await;
    assert_eq!(acked.len() as u64, MESSAGES);
    wait_all_recorded(&server, &acked).await;
}

/// Batched delivery acknowledges nothing before its batch's writes are on disk: the chaos
/// plugin takes up to 64 messages of a lane at once, eight devices stream 500 messages each
/// onto one topic (so one lane) through the embedded broker, Switchyard is SIGKILLed
/// mid-stream and started again, and every message a device saw acknowledged has its record.
/// The restarted server called the plugin fewer times than it received messages: batches
/// formed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_batches_loses_no_acknowledged_message() {
    const DEVICES: u64 = 8;
    const EACH: u64 = 500;
    let dir = tempfile::tempdir().unwrap();
    let server = batching_server(dir.path()).await;

    let streams: Vec<Stream> = (0..DEVICES)
        .map(|d| {
            let message = move |i| {
                let n = d * EACH + i;
                ("stream/one".to_owned(), format!("ok {n}").into_bytes())
            };
            Stream::start(server.mqtt, None, EACH, Some(200), message)
        })
        .collect();
    let acked = || streams.iter().map(Stream::acked).sum::<usize>();
    eventually("some acknowledged", Duration::from_secs(60), || async {
        (acked() >= 800).then_some(())
    })
    .await;
    let again = server.same_again();
    server.kill();
    let server = Server::start_with(dir.path(), again).await;
    let mut acked = BTreeSet::new();
    for (d, stream) in (0..DEVICES).zip(streams) {
        acked.extend(stream.finish().await.into_iter().map(|i| d * EACH + i));
    }
    assert_eq!(acked.len() as u64, DEVICES * EACH);
    wait_all_recorded(&server, &acked).await;

    let calls = ok_calls(&server).await;
    let received = server
        .metric("switchyard_messages_received_total", &[])
        .await;
    assert!(
        calls > 0.0 && calls < received,
        "{calls} calls for {received} messages"
    );
}

/// Batches keep a topic's order: a device publishes 300 `link` messages on one topic without
/// waiting for acknowledgements, the chaos plugin takes them up to 64 at a time, and each link
/// names the one before it as the latest it found, so every message saw what the messages
/// before it wrote, within a batch and across batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_keep_a_topics_order() {
    const LINKS: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let server = batching_server(dir.path()).await;
    let device = MqttPeer::connect(server.mqtt, None, &[]).await;
    for n in 0..LINKS {
        device.publish("stream/chain", format!("link {n}")).await;
    }
    let links = server.wait_for("Link", "_limit=1000", LINKS as usize).await;
    let mut prev: Vec<(u64, Value)> = (links.iter())
        .map(|link| (link["n"].as_u64().unwrap(), link["prev"].clone()))
        .collect();
    prev.sort_by_key(|(n, _)| *n);
    let expected: Vec<(u64, Value)> = (0..LINKS)
        .map(|n| (n, n.checked_sub(1).map_or(Value::Null, Value::from)))
        .collect();
    assert_eq!(prev, expected);
    let calls = ok_calls(&server).await;
    assert!(
        calls < LINKS as f64,
        "{calls} calls for {LINKS} links: no batch formed"
    );
}

/// A server with [`embedded_stream_client`] whose chaos plugin takes up to 64 messages at once.
async fn batching_server(dir: &std::path::Path) -> Server {
    let server = Server::start(dir).await;
    embedded_stream_client(&server).await;
    let batch = json!({"limits": {"batch": 64}});
    let (status, info) = server.patch("/api/plugins/chaos", batch).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    server
}

/// The calls of plugins that ended well, since the server started.
async fn ok_calls(server: &Server) -> f64 {
    server
        .metric("switchyard_invocations_total", &["outcome=\"ok\""])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_right_after_rest_writes_keeps_every_acknowledged_write() {
    const WRITERS: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(Server::start(dir.path()).await);
    let created = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (server, created) = (server.clone(), created.clone());
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0.. {
                let request =
                    server.try_post("/api/objects/Note", json!({"writer": writer, "i": i}));
                match tokio::time::timeout(Duration::from_secs(5), request).await {
                    Ok(Some((StatusCode::CREATED, body))) => {
                        acknowledged.push(body["id"].as_str().unwrap().to_owned());
                        created.fetch_add(1, Ordering::SeqCst);
                    }
                    // The server is gone: nothing more was acknowledged.
                    _ => break,
                }
            }
            acknowledged
        }));
    }
    while created.load(Ordering::SeqCst) < 300 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let again = server.same_again();
    server.kill();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(acknowledged.len() >= 300);

    let server = Server::start_with(dir.path(), again).await;
    for id in &acknowledged {
        let (status, _) = server.get(&format!("/api/objects/Note/{id}")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "Note {id} was acknowledged with 201"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_restarted_under_load_loses_nothing_acknowledged() {
    const MESSAGES: u64 = 2000;
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Mosquitto::start_with(dir.path(), true).await;
    let server = Server::start(dir.path()).await;
    let client = persistent_stream_client(&server, &broker, "durable-restart").await;

    let creds = Some((mosquitto::USER, mosquitto::PASSWORD));
    let stream = Stream::start(broker.addr, creds, MESSAGES, Some(500), numbered);
    while stream.acked() < 500 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.restart().await;
    let acked = stream.finish().await;
    wait_all_recorded(&server, &acked).await;
    let status = server.wait_connected(&client).await;
    assert_eq!(status["isConnected"], true, "{status}");
}

/// 20,000 messages of 10 KB at QoS 1, each on a topic of its own (as a fleet of devices
/// publishes), as fast as Mosquitto takes them, to a callback that needs milliseconds for
/// each: all are processed, the server's memory stays bounded while the backlog waits, and
/// what the flood took is returned once it is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_through_mosquitto_is_processed_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    let server = Server::start(dir.path()).await;
    persistent_stream_client(&server, &broker, "durable-flood").await;
    let creds = Some((mosquitto::USER, mosquitto::PASSWORD));
    flood(&server, (broker.addr, creds), None, 100).await;
}

/// The same flood through the embedded broker, whose device connections stop reading while a
/// client's inbox is full, so the backlog waits in the device, not in the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_through_the_embedded_broker_is_processed_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    server.upload("chaos", &plugin("chaos")).await;
    let client = server
        .connected_client(json!({
            "mainBrokerURL": "embedded", "qos": 1, "cleanSession": false,
            "clientId": "durable-embedded-flood", "isEnabled": true,
        }))
        .await;
    let subscriber = json!({"topic": "stream/#", "callback": "chaos", "clients": [client]});
    server.create("MessageSubscriber", subscriber).await;
    let device = MqttPeer::connect(server.mqtt, None, &[]).await;
    server
        .publish_until_stored(&device, ("stream/probe", "ok 0"), ("ChaosRecord", "n=0"))
        .await;
    flood(&server, (server.mqtt, None), None, 100 + 16).await;
}

/// Floods `stream/<n>` through a broker (address, credentials) with 20,000 slow 10 KB
/// messages, at most `per_second`, and checks that each produced its record while the
/// server's RSS stayed within `slack_mib` of its start, and that it comes back within
/// [`AFTER_FLOOD_MIB`] of its start once everything is processed.
async fn flood(
    server: &Server,
    (addr, creds): (std::net::SocketAddr, Option<(&str, &str)>),
    per_second: Option<u64>,
    slack_mib: u64,
) {
    const MESSAGES: u64 = 20_000;
    let baseline = server.rss_mib();
    let padding = "x".repeat(10 * 1024);
    let stream = Stream::start(addr, creds, MESSAGES, per_second, move |i| {
        let payload = format!("slow-ok {i} {padding}");
        (format!("stream/{i}"), payload.into_bytes())
    });
    let mut peak = baseline;
    let all = eventually(
        "every flooded message processed",
        Duration::from_secs(600),
        || {
            peak = peak.max(server.rss_mib());
            async move {
                let (_, page) = server.get("/api/objects/ChaosRecord?_limit=0").await;
                (page["total"].as_u64() > Some(MESSAGES)).then_some(())
            }
        },
    );
    all.await;
    let acked = stream.finish().await;
    assert_eq!(acked.len() as u64, MESSAGES);
    wait_all_recorded(server, &acked).await;
    assert!(
        peak < baseline + slack_mib,
        "RSS grew from {baseline} MiB to {peak} MiB while the backlog should wait"
    );
    let back = format!("RSS back within {AFTER_FLOOD_MIB} MiB of its start ({baseline} MiB)");
    eventually(&back, Duration::from_secs(60), || async {
        (server.rss_mib() < baseline + AFTER_FLOOD_MIB).then_some(())
    })
    .await;
}

/// How far above its start the server's memory may stay once a flood is processed: what it
/// keeps does not grow with the number of messages or topics.
const AFTER_FLOOD_MIB: u64 = 64;

/// Eight REST writers merging their own property, two REST writers and a plugin incrementing
/// one counter (with `If-Match` and a read-modify-write respectively): nobody's update is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rest_and_plugin_writers_lose_no_update() {
    const MERGES: u64 = 30;
    const REST_INCREMENTS: u64 = 25;
    const PLUGIN_INCREMENTS: u64 = 100;
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = chaos_on_embedded(dir.path(), Options::default()).await;
    let server = Arc::new(server);
    let subscriber = json!({"topic": "incr/#", "callback": "chaos", "clients": [client]});
    server.create("MessageSubscriber", subscriber).await;
    let counter = server.create("Counter", json!({"count": 0})).await;
    let id = counter["id"].as_str().unwrap().to_owned();
    let path = format!("/api/objects/Counter/{id}");
    let device = MqttPeer::connect(server.mqtt, None, &[]).await;
    server
        .publish_until_stored(&device, ("incr/probe", "ok 0"), ("ChaosRecord", "n=0"))
        .await;

    let mut tasks = Vec::new();
    for writer in 0..8 {
        let (server, path) = (server.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            for i in 1..=MERGES {
                let (status, body) = server.patch(&path, json!({format!("w{writer}"): i})).await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        }));
    }
    for _ in 0..2 {
        let (server, path) = (server.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..REST_INCREMENTS {
                server.increment(&path, "count").await;
            }
        }));
    }
    for _ in 0..PLUGIN_INCREMENTS {
        device.publish("incr/counter", format!("incr {id}")).await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    let expected = 2 * REST_INCREMENTS + PLUGIN_INCREMENTS;
    let mut counter = Value::Null;
    for _ in 0..600 {
        counter = server.get(&path).await.1;
        if counter["count"].as_u64() >= Some(expected) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counter["count"], expected, "{counter}");
    for writer in 0..8 {
        assert_eq!(counter[format!("w{writer}")], MERGES, "{counter}");
    }
    assert!(server.list("FailedMessage", "").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_if_match_is_refused_with_409() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let note = server.create("Note", json!({"text": "a"})).await;
    let path = format!("/api/objects/Note/{}", note["id"].as_str().unwrap());
    assert_eq!(note["version"], 1);
    let (status, _) = server.patch(&path, json!({"text": "b"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server
        .call_with(
            reqwest::Method::PUT,
            &path,
            json!({"text": "c"}),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("version 2"),
        "{body}"
    );
    let (_, note) = server.get(&path).await;
    assert_eq!(
        (note["text"].clone(), note["version"].clone()),
        (json!("b"), json!(2))
    );
}

/// A failing callback is retried off the ordered path with backoff and succeeds once its
/// cause is fixed; with one attempt it becomes a `FailedMessage` that replay runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_recorded_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = chaos_on_embedded(dir.path(), Options::default()).await;
    // Created first, so once the other subscriber's topic is live, this one's is too.
    let once = server
        .create(
            "MessageSubscriber",
            json!({"topic": "once/#", "callback": "chaos", "clients": [client], "maxAttempts": 1}),
        )
        .await;
    let retrying = server
        .create(
            "MessageSubscriber",
            json!({"topic": "retry/#", "callback": "chaos", "clients": [client],
                   "maxAttempts": 10, "retryDelayMs": 100}),
        )
        .await;
    let device = MqttPeer::connect(server.mqtt, None, &[]).await;
    server
        .publish_until_stored(&device, ("retry/probe", "ok 0"), ("ChaosRecord", "n=0"))
        .await;

    // The message behind a failing one is not held up by its retries.
    device.publish("retry/a", "gated 1").await;
    device.publish("retry/b", "ok 2").await;
    server.wait_for("ChaosRecord", "n=2", 1).await;
    assert!(server.list("ChaosRecord", "n=1").await.is_empty());
    let retried = format!("/api/objects/MessageSubscriber/{}", id(&retrying));
    server.patch(&retried, json!({"open": true})).await;
    server.wait_for("ChaosRecord", "n=1", 1).await;
    assert!(server.list("FailedMessage", "").await.is_empty());

    device.publish("once/a", "gated 3").await;
    let failed = server
        .wait_for("FailedMessage", &format!("subscriber={}", id(&once)), 1)
        .await;
    let record = &failed[0];
    assert_eq!(
        (
            record["payload"].clone(),
            record["topic"].clone(),
            record["attempts"].clone()
        ),
        (json!("gated 3"), json!("once/a"), json!(1))
    );
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("the gate is closed")
    );
    assert!(record["firstFailedAt"].is_string() && record["lastFailedAt"].is_string());
    let replay = format!("/api/failed/{}/replay", id(record));
    let (status, body) = server.post(&replay, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, record) = server
        .get(&format!("/api/objects/FailedMessage/{}", id(record)))
        .await;
    assert_eq!(record["attempts"], 2, "{record}");

    let once_path = format!("/api/objects/MessageSubscriber/{}", id(&once));
    server.patch(&once_path, json!({"open": true})).await;
    let (status, body) = server
        .post(
            &format!("/api/failed/replay?subscriber={}", id(&once)),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"replayed": 1, "failed": 0}))
    );
    server.wait_for("ChaosRecord", "n=3", 1).await;
    assert!(server.list("FailedMessage", "").await.is_empty());
}

/// Past `--failed-max-count`, the oldest `FailedMessage` records make room for new ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_messages_are_capped_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        env: vec![("SWITCHYARD_FAILED_MAX_COUNT", "3".into())],
        ..Options::default()
    };
    let (server, client) = chaos_on_embedded(dir.path(), options).await;
    let subscriber =
        json!({"topic": "f/#", "callback": "chaos", "clients": [client], "maxAttempts": 1});
    server.create("MessageSubscriber", subscriber).await;
    let device = MqttPeer::connect(server.mqtt, None, &[]).await;
    server
        .publish_until_stored(&device, ("f/probe", "ok 0"), ("ChaosRecord", "n=0"))
        .await;
    // One topic, so the subscriber handles them (and they fail) in the order sent.
    for n in 1..=6 {
        device.publish("f/x", format!("fail {n}")).await;
    }
    server.wait_for("FailedMessage", "payload=fail 6", 1).await;
    let kept = server.list("FailedMessage", "_sort=payload").await;
    let payloads: Vec<&str> = kept.iter().filter_map(|f| f["payload"].as_str()).collect();
    assert_eq!(payloads, ["fail 4", "fail 5", "fail 6"]);
}

/// A server with the chaos plugin and a connected QoS 1 client of its embedded broker; returns
/// both, with the client's id.
async fn chaos_on_embedded(dir: &std::path::Path, options: Options) -> (Server, String) {
    let server = Server::start_with(dir, options).await;
    server.upload("chaos", &plugin("chaos")).await;
    let client = server
        .connected_client(json!({"mainBrokerURL": "embedded", "qos": 1, "isEnabled": true}))
        .await;
    (server, client)
}

fn id(object: &Value) -> &str {
    object["id"].as_str().expect("an id")
}
