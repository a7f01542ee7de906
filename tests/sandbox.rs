//! Callbacks that fail, trap, loop forever, eat memory or misuse the host: each is stopped
//! and recorded, nothing it wrote is kept, and the next message is handled normally. Uses the
//! `chaos` fixture plugin, whose payload selects what it does.

use switchyard_test_support as support;

use serde_json::{Value, json};
use std::time::Duration;
use support::plugins::plugin;
use support::{MqttPeer, Server};

struct Chaos {
    server: Server,
    device: MqttPeer,
    subscriber: String,
}

impl Chaos {
    async fn start(dir: &std::path::Path) -> Chaos {
        let server = Server::start(dir).await;
        server.upload("chaos", &plugin("chaos")).await;
        let subscriber = server.subscribe_plugin("chaos", "chaos/#").await;
        let device = MqttPeer::connect(server.mqtt, None, &["echo/#"]).await;
        server
            .publish_until_stored(&device, ("chaos/cmd", "ok"), ("ChaosRecord", ""))
            .await;
        Chaos {
            server,
            device,
            subscriber,
        }
    }

    async fn send(&self, command: &str) {
        self.device.publish("chaos/cmd", command).await;
    }

    async fn records(&self) -> usize {
        self.server.list("ChaosRecord", "").await.len()
    }

    /// Sends `ok` and waits for its record, proving the pipeline still works.
    async fn still_works(&self) {
        let n = self.records().await;
        self.send("ok").await;
        self.server.wait_for("ChaosRecord", "", n + 1).await;
    }

    /// Sends a failing command and returns the FailedMessage recorded for it.
    async fn fails(&self, command: &str) -> Value {
        let before = self.records().await;
        self.send(command).await;
        let failed = self
            .server
            .wait_for("FailedMessage", &format!("payload={command}"), 1)
            .await
            .remove(0);
        assert_eq!(failed["subscriber"], self.subscriber.as_str());
        assert_eq!(failed["topic"], "chaos/cmd");
        self.still_works().await;
        assert_eq!(
            self.records().await,
            before + 1,
            "writes of `{command}` were kept"
        );
        failed
    }
}

#[tokio::test]
async fn failing_trapping_and_runaway_callbacks_are_contained() {
    let dir = tempfile::tempdir().unwrap();
    let chaos = Chaos::start(dir.path()).await;

    let failed = chaos.fails("fail").await;
    assert!(
        failed["error"].as_str().unwrap().contains("asked to fail"),
        "{failed}"
    );

    let failed = chaos.fails("trap").await;
    assert!(
        failed["error"].as_str().unwrap().contains("trapped"),
        "{failed}"
    );

    let failed = chaos.fails("loop").await;
    assert!(
        failed["error"].as_str().unwrap().contains("out of time"),
        "{failed}"
    );

    let failed = chaos.fails("oom").await;
    assert!(
        failed["error"].as_str().unwrap().contains("trapped"),
        "{failed}"
    );
}

#[tokio::test]
async fn callbacks_read_their_own_writes_and_get_host_errors_as_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut chaos = Chaos::start(dir.path()).await;

    chaos.send("readback").await;
    chaos.still_works().await;
    assert!(chaos.server.list("FailedMessage", "").await.is_empty());

    chaos.send("badcalls").await;
    let calls = chaos.server.wait_for("BadCalls", "", 1).await.remove(0);
    assert_eq!(calls["create"], "invalid");
    assert_eq!(calls["update"], "not-found");
    assert_eq!(calls["publish"], "not-found");

    chaos.send("echo").await;
    let (topic, payload) = chaos.device.next(Duration::from_secs(20)).await;
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        ("echo/chaos/cmd", b"echo".as_slice())
    );
}

#[tokio::test]
async fn plugin_logs_and_output_reach_the_server_log_tagged() {
    let dir = tempfile::tempdir().unwrap();
    let chaos = Chaos::start(dir.path()).await;
    chaos.send("log").await;
    let subscriber = chaos.subscriber.clone();
    let logs = support::eventually("plugin log lines", Duration::from_secs(20), || async {
        let logs = chaos.server.logs();
        (logs.contains("stderr") && logs.contains("stdout")).then_some(logs)
    })
    .await;
    let tagged: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("plugin=\"chaos\"") || l.contains("plugin=chaos"))
        .collect();
    assert!(tagged.iter().any(|l| l.contains(&subscriber)), "{logs}");
    assert!(
        tagged
            .iter()
            .any(|l| l.contains("WARN") && l.contains("stderr")),
        "{logs}"
    );
    assert!(tagged.iter().any(|l| l.contains("ERROR")), "{logs}");
}

/// A server where the `hostile` fixture plugin runs on `attack/#` beside the `recorder` on
/// `sensors/#`, both on one embedded client, with a device that publishes readings and
/// attacks and receives alerts.
struct Arena {
    server: Server,
    device: MqttPeer,
    client: String,
    hostile: String,
    recorder: String,
    /// Readings sent so far, each of which the recorder must store.
    readings: usize,
}

impl Arena {
    /// A server whose plugins run for at most `plugin_timeout_ms`, each message in a fresh
    /// instance, or with `reuse` in instances kept for up to 1,000 messages of a subscriber.
    async fn start(dir: &std::path::Path, plugin_timeout_ms: u64, reuse: bool) -> Arena {
        let options = support::Options {
            plugin_timeout_ms,
            ..support::Options::default()
        };
        let server = Server::start_with(dir, options).await;
        for name in ["hostile", "recorder"] {
            server.upload(name, &plugin(name)).await;
            if reuse {
                let reuse = json!({"messages": 1000, "idleMs": 60_000});
                reuse_instances(&server, name, reuse).await;
            }
        }
        let client = server
            .connected_client(json!({
                "name": "main", "mainBrokerURL": "embedded", "isEnabled": true,
                "username": "service", "password": "secret-pw",
            }))
            .await;
        let subscriber = |topic: &str, callback: &str| json!({"topic": topic, "callback": callback, "clients": [client], "maxAttempts": 1});
        let hostile = server
            .create("MessageSubscriber", subscriber("attack/#", "hostile"))
            .await;
        let recorder = server
            .create("MessageSubscriber", subscriber("sensors/#", "recorder"))
            .await;
        let device = MqttPeer::connect(server.mqtt, None, &["alerts/#"]).await;
        let first = reading(0, 20.0);
        server
            .publish_until_stored(&device, (&first.0, &first.1), ("TemperatureReading", ""))
            .await;
        let readings = server.list("TemperatureReading", "").await.len();
        Arena {
            server,
            device,
            client,
            hostile: hostile["id"].as_str().unwrap().to_owned(),
            recorder: recorder["id"].as_str().unwrap().to_owned(),
            readings,
        }
    }

    /// Sends an attack and returns the `Attempt` it recorded for `command` (its first word).
    async fn attack(&mut self, payload: &str) -> Value {
        let command = payload.split(' ').next().unwrap();
        self.attempt_of(command, payload).await
    }

    /// Sends `payload` and returns the next `Attempt` recorded with `command`.
    async fn attempt_of(&mut self, command: &str, payload: &str) -> Value {
        let query = format!("command={command}");
        let before = self.server.list("Attempt", &query).await.len();
        self.device.publish("attack/x", payload).await;
        self.reading().await;
        let mut attempts = self.server.wait_for("Attempt", &query, before + 1).await;
        attempts.pop().unwrap()
    }

    /// Sends an attack the host must stop, and returns the error recorded for it.
    async fn stopped(&mut self, payload: &str) -> String {
        self.device.publish("attack/x", payload).await;
        self.reading().await;
        let failed = self
            .server
            .wait_for("FailedMessage", &format!("payload={payload}"), 1)
            .await;
        failed[0]["error"].as_str().unwrap().to_owned()
    }

    /// Sends one good reading for the recorder.
    async fn reading(&mut self) {
        self.readings += 1;
        let (topic, payload) = reading(self.readings, 21.0);
        self.device.publish(&topic, payload).await;
    }

    /// Checks that the recorder stored every reading sent.
    async fn lost_nothing(&self) {
        let stored = self
            .server
            .wait_for("TemperatureReading", "", self.readings)
            .await;
        assert_eq!(stored.len(), self.readings);
    }
}

/// Sets plugin `name`'s `limits.reuse`.
async fn reuse_instances(server: &Server, name: &str, reuse: Value) {
    let limits = json!({"limits": {"reuse": reuse}});
    let (status, info) = server.patch(&format!("/api/plugins/{name}"), limits).await;
    assert_eq!(status, 200, "{info}");
}

fn reading(n: usize, value: f64) -> (String, String) {
    let sensor = format!("t{n}");
    let payload = json!({"sensorId": sensor, "value": value}).to_string();
    (format!("sensors/{sensor}/temperature"), payload)
}

fn denied(attempt: &Value, what: &str) {
    assert_eq!(attempt["outcome"], "denied", "{attempt}");
    let error = attempt["error"].as_str().unwrap_or_default();
    assert!(error.contains(what), "`{what}` not in {attempt}");
}

fn limited(attempt: &Value, limit: &str) {
    assert_eq!(attempt["outcome"], "limit-exceeded", "{attempt}");
    let error = attempt["error"].as_str().unwrap_or_default();
    assert!(error.contains(limit), "`{limit}` not in {attempt}");
}

#[tokio::test]
async fn plugins_cannot_take_over_the_servers_configuration() {
    plugins_cannot_take_over_the_servers_configuration_(false).await;
}

/// The same attacks on instances kept between messages.
#[tokio::test]
async fn plugins_cannot_take_over_the_servers_configuration_with_reuse() {
    plugins_cannot_take_over_the_servers_configuration_(true).await;
}

async fn plugins_cannot_take_over_the_servers_configuration_(reuse: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut arena = Arena::start(dir.path(), 2000, reuse).await;
    // Where a stolen password would go.
    let attacker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    attacker.set_nonblocking(true).unwrap();
    let trap = format!("mqtt://{}", attacker.local_addr().unwrap());

    denied(
        &arena.attack(&format!("reconfigure {trap}")).await,
        "may not read objects of type MQTTClient",
    );
    denied(
        &arena.attack(&format!("reconfigure-own {trap}")).await,
        "MQTTClient is a built-in type",
    );
    denied(&arena.attack(&format!("steal {trap}")).await, "built-in");
    denied(
        &arena
            .attack(&format!("delete-subscriber {}", arena.recorder))
            .await,
        "built-in",
    );
    denied(
        &arena.attack("rewrite-callback").await,
        "MessageSubscriber is a built-in type",
    );
    denied(
        &arena.attack("read-clients").await,
        "may not read objects of type MQTTClient",
    );
    denied(&arena.attack("delete-failed").await, "FailedMessage");
    let other = (arena.server)
        .connected_client(json!({"name": "other", "mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    denied(
        &arena.attack("publish-to other x").await,
        "only through the client its message came on",
    );
    denied(
        &arena.attack("subscribe other #").await,
        "may not change the subscriptions",
    );

    // Each refusal is logged with the plugin and the subscriber it ran for.
    let logs = arena.server.logs();
    let refusal = logs
        .lines()
        .find(|l| l.contains("denied: MQTTClient is a built-in type"));
    let refusal = refusal.unwrap_or_else(|| panic!("no refusal logged:\n{logs}"));
    assert!(
        refusal.contains("hostile") && refusal.contains(&arena.hostile),
        "{refusal}"
    );

    // Nothing changed: the client still points at the broker it did, no client was added, the
    // recorder's subscriber is intact, and nobody connected to the attacker.
    let (_, client) = arena
        .server
        .get(&format!("/api/objects/MQTTClient/{}", arena.client))
        .await;
    assert_eq!(client["mainBrokerURL"], "embedded");
    assert!(
        arena
            .server
            .list("MQTTClient", "name=stolen")
            .await
            .is_empty()
    );
    let (_, subscriber) = (arena.server)
        .get(&format!(
            "/api/objects/MessageSubscriber/{}",
            arena.recorder
        ))
        .await;
    assert_eq!(subscriber["callback"], "recorder");

    // The operator grants reading clients, and publishing to alerts only through `other`.
    let (status, info) = (arena.server)
        .patch(
            "/api/plugins/hostile",
            json!({"capabilities": {
                "read": ["*", "MQTTClient"],
                "publish": [{"client": "other", "topics": ["alerts/#"]}],
                "subscribe": false,
            }}),
        )
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["capabilities"]["read"], json!(["*", "MQTTClient"]));
    let read = arena.attack("read-clients").await;
    assert_eq!(read["outcome"], "ok", "{read}");
    let detail = read["detail"].as_str().unwrap();
    assert!(
        detail.contains("embedded") && !detail.contains("secret-pw"),
        "{detail}"
    );
    denied(
        &arena.attack("reconfigure-own mqtt://x:1").await,
        "built-in",
    );
    assert_eq!(
        arena.attack("publish-to other alerts/x").await["outcome"],
        "ok"
    );
    denied(
        &arena.attack("publish-to other cmd/x").await,
        "may not publish to `cmd/x`",
    );
    denied(
        &arena
            .attack(&format!("publish-to {} alerts/x", arena.client))
            .await,
        "may not publish through",
    );
    let (_, other) = arena
        .server
        .get(&format!("/api/objects/MQTTClient/{other}"))
        .await;
    assert_eq!(other["mainBrokerURL"], "embedded");

    arena.lost_nothing().await;
    assert!(
        attacker.accept().is_err(),
        "somebody connected to the attacker"
    );
}

#[tokio::test]
async fn budgets_stop_floods_and_name_the_limit_that_tripped() {
    budgets_stop_floods_and_name_the_limit_that_tripped_(false).await;
}

/// The same attacks on instances kept between messages.
#[tokio::test]
async fn budgets_stop_floods_and_name_the_limit_that_tripped_with_reuse() {
    budgets_stop_floods_and_name_the_limit_that_tripped_(true).await;
}

async fn budgets_stop_floods_and_name_the_limit_that_tripped_(reuse: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut arena = Arena::start(dir.path(), 5000, reuse).await;

    // `find` without a limit gets the default page; past the maximum it is refused.
    arena.device.publish("attack/x", "make-blobs 150").await;
    arena.server.wait_for("Blob", "_limit=1000", 150).await;
    let huge = arena.attack("find-huge").await;
    assert_eq!(
        (huge["first"].as_str(), huge["count"].as_u64()),
        (Some("ok"), Some(100)),
        "{huge}"
    );
    limited(
        &huge,
        "find row limit: `limit` 1000000 is over the maximum of 1000 rows",
    );
    assert_eq!(arena.attack("find-count").await["count"], 150);

    // Bytes published, bytes written, object size, one message over the broker's limit.
    let flood = arena.attack("publish-flood 6").await;
    limited(&flood, "bytes published limit");
    assert_eq!(flood["count"], 2, "{flood}");
    let flood = arena.attack("object-flood 0.9").await;
    limited(&flood, "bytes written limit");
    assert!(flood["count"].as_u64().unwrap() < 18, "{flood}");
    limited(&arena.attack("object-flood 1.5").await, "object size limit");
    limited(&arena.attack("publish-big 10.5").await, "message too large");
    let flood = arena.attack("publish-flood 0.001").await;
    limited(&flood, "publish limit: all 1000 publishes");

    // The host-call budget: the plugin cannot even record its verdict, so the invocation fails.
    let error = arena.stopped("call-flood").await;
    assert!(error.contains("host call limit"), "{error}");

    // Logs and printed output are cut at the log budget, with a marker.
    let log_size = || {
        std::fs::metadata(
            dir.path()
                .read_dir()
                .unwrap()
                .flatten()
                .find(|e| e.file_name().to_string_lossy().starts_with("server-"))
                .unwrap()
                .path(),
        )
        .unwrap()
        .len()
    };
    let before = log_size();
    assert_eq!(arena.attack("log-flood 2").await["outcome"], "ok");
    assert_eq!(arena.attack("stdout-flood 2").await["outcome"], "ok");
    let logs = arena.server.logs();
    assert!(
        logs.contains("[truncated: the plugin's log limit for this invocation]"),
        "no marker"
    );
    let grown = log_size() - before;
    assert!(
        grown < 1 << 20,
        "4 MiB of plugin output grew the log by {grown} bytes"
    );

    arena.lost_nothing().await;
    let rss = arena.server.rss_mib();
    eprintln!("server RSS after the attacks: {rss} MiB");
    assert!(rss < 1024, "the server grew to {rss} MiB");
}

#[tokio::test]
async fn deadlines_hold_in_blocking_calls_and_escapes_find_nothing() {
    deadlines_hold_in_blocking_calls_and_escapes_find_nothing_(false).await;
}

/// The same attacks on instances kept between messages.
#[tokio::test]
async fn deadlines_hold_in_blocking_calls_and_escapes_find_nothing_with_reuse() {
    deadlines_hold_in_blocking_calls_and_escapes_find_nothing_(true).await;
}

async fn deadlines_hold_in_blocking_calls_and_escapes_find_nothing_(reuse: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut arena = Arena::start(dir.path(), 1000, reuse).await;

    let error = arena.stopped("sleep 120").await;
    assert!(
        error.contains("out of time (1000 ms) while blocked in a host or WASI call"),
        "{error}"
    );
    let error = arena.stopped("loop").await;
    assert!(error.contains("out of time (1000 ms)"), "{error}");
    // Rust keeps its stack in linear memory: overflowing it is an out-of-bounds access.
    let error = arena.stopped("recurse").await;
    assert!(error.starts_with("plugin trapped: wasm trap:"), "{error}");
    // An unordered subscriber does not wait for its sleeping invocation on the same topic.
    let path = format!("/api/objects/MessageSubscriber/{}", arena.hostile);
    let (status, _) = arena.server.patch(&path, json!({"ordered": false})).await;
    assert_eq!(status, 200);
    arena.device.publish("attack/x", "sleep 61").await;
    arena.attack("read-clients").await;
    let sleeping = arena.server.list("FailedMessage", "payload=sleep 61").await;
    assert!(
        sleeping.is_empty(),
        "the next message waited for the sleeper"
    );
    arena
        .server
        .wait_for("FailedMessage", "payload=sleep 61", 1)
        .await;

    let bomb = arena.attack("memory-bomb").await;
    assert_eq!(bomb["outcome"], "refused", "{bomb}");
    assert!(bomb["count"].as_u64().unwrap() < 64, "{bomb}");

    let before = arena.server.list("Attempt", "_limit=100").await.len();
    arena.device.publish("attack/x", "wasi-probe").await;
    let attempts = arena
        .server
        .wait_for("Attempt", "_limit=100", before + 6)
        .await;
    for probe in &attempts[before..] {
        let name = probe["command"].as_str().unwrap();
        assert!(name.starts_with("wasi-probe/"), "{probe}");
        let nothing = probe["outcome"] == "refused" || probe["count"] == 0;
        assert!(nothing, "{name} got something: {probe}");
    }

    arena.lost_nothing().await;
    let rss = arena.server.rss_mib();
    eprintln!("server RSS after the attacks: {rss} MiB");
    assert!(rss < 1024, "the server grew to {rss} MiB");
}

/// The recorder's p50, from a reading over its threshold to its alert, in milliseconds.
async fn p50_latency(arena: &mut Arena, from: usize) -> f64 {
    let reading = |n| reading(1000 + n, 99.0);
    let alert = |n| format!("alerts/t{}", 1000 + n);
    let p50 = arena
        .device
        .p50_round_trip_ms((from, 25), reading, alert)
        .await;
    arena.readings += 25;
    p50
}

#[tokio::test]
async fn a_looping_and_a_sleeping_plugin_beside_the_recorder_do_not_slow_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut arena = Arena::start(dir.path(), 3000, false).await;
    let baseline = p50_latency(&mut arena, 0).await;

    // Different topics, so each ties up only its own lane, for three seconds.
    arena.device.publish("attack/loop", "loop").await;
    arena.device.publish("attack/sleep", "sleep 60").await;
    let busy = p50_latency(&mut arena, 100).await;
    eprintln!("recorder p50: {baseline:.1} ms alone, {busy:.1} ms beside hostile plugins");
    assert!(
        busy <= 2.0 * baseline.max(1.0),
        "the recorder's p50 went from {baseline:.1} ms to {busy:.1} ms beside hostile plugins"
    );
    let failed = arena.server.wait_for("FailedMessage", "", 2).await;
    assert!(
        failed
            .iter()
            .all(|f| f["error"].as_str().unwrap().contains("out of time"))
    );
    arena.lost_nothing().await;
}

/// Sends `remember` to the `hostile` plugin: each call returns the count the instance that
/// handled it answered with (1 in a fresh instance), checking it ran for `subscriber`.
struct Rememberer<'a> {
    server: &'a Server,
    device: MqttPeer,
    seen: std::collections::HashSet<String>,
}

impl Rememberer<'_> {
    async fn remember(&mut self, topic: &str, subscriber: &Value) -> u64 {
        self.device.publish(topic, "remember").await;
        let query = "command=remember&_limit=1000";
        let attempts = self
            .server
            .wait_for("Attempt", query, self.seen.len() + 1)
            .await;
        let new = (attempts.into_iter())
            .find(|a| self.seen.insert(a["id"].as_str().unwrap().to_owned()))
            .unwrap();
        assert_eq!(new["detail"], subscriber["id"], "{new}");
        new["count"].as_u64().unwrap()
    }

    /// The counts of `n` messages to `topic` in a row.
    async fn counts(&mut self, topic: &str, subscriber: &Value, n: usize) -> Vec<u64> {
        let mut counts = Vec::new();
        for _ in 0..n {
            counts.push(self.remember(topic, subscriber).await);
        }
        counts
    }
}

/// The `hostile` plugin on subscribers `a/#` and `b/#` of one embedded-broker client, and a
/// device whose message reached `a` already.
async fn two_hostile_subscribers(server: &Server) -> (Value, Value, MqttPeer) {
    server.upload("hostile", &plugin("hostile")).await;
    let client = (server.connected_client(json!({
        "name": "main", "mainBrokerURL": "embedded", "isEnabled": true,
    })))
    .await;
    let subscriber = |topic: &str| json!({"topic": topic, "callback": "hostile", "clients": [client], "maxAttempts": 1});
    let a = server.create("MessageSubscriber", subscriber("a/#")).await;
    let b = server.create("MessageSubscriber", subscriber("b/#")).await;
    let device = MqttPeer::connect(server.mqtt, None, &[]).await;
    let ready = ("Attempt", "command=read-clients");
    (server.publish_until_stored(&device, ("a/x", "read-clients"), ready)).await;
    (a, b, device)
}

/// Instance reuse, opted into per plugin: what a plugin keeps in its memory survives between
/// messages of one subscriber only while reuse is on, never reaches another subscriber, and
/// is gone after a trap, after the instance's last message and after its idle time.
#[tokio::test]
async fn reused_instances_keep_state_for_their_own_subscriber_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (a, b, device) = two_hostile_subscribers(&server).await;
    let mut r = Rememberer {
        server: &server,
        device,
        seen: Default::default(),
    };

    assert_eq!(
        r.counts("a/x", &a, 3).await,
        [1, 1, 1],
        "no reuse by default"
    );

    reuse_instances(
        &server,
        "hostile",
        json!({"messages": 1000, "idleMs": 60_000}),
    )
    .await;
    assert_eq!(r.counts("a/x", &a, 3).await, [1, 2, 3]);
    assert_eq!(r.counts("b/x", &b, 2).await, [1, 2], "b got a's instance");
    assert_eq!(r.counts("a/x", &a, 1).await, [4]);

    // A trap discards the instance: the next message starts afresh.
    r.device.publish("a/x", "recurse").await;
    server.wait_for("FailedMessage", "payload=recurse", 1).await;
    assert_eq!(r.counts("a/x", &a, 2).await, [1, 2], "kept after a trap");

    // An instance serves at most `messages`; one idle for longer than `idleMs` is let go.
    reuse_instances(&server, "hostile", json!({"messages": 2, "idleMs": 60_000})).await;
    assert_eq!(r.counts("a/x", &a, 5).await, [1, 2, 1, 2, 1]);
    reuse_instances(&server, "hostile", json!({"messages": 1000, "idleMs": 1})).await;
    assert_eq!(
        r.counts("a/x", &a, 3).await,
        [1, 1, 1],
        "kept past its idle time"
    );

    reuse_instances(&server, "hostile", Value::Null).await;
    assert_eq!(r.counts("b/x", &b, 2).await, [1, 1], "reuse is off again");
}

/// Batched delivery, opted into per plugin (`limits.batch`): the messages that queue in a
/// subscriber's lane while its callback runs go to one instance together, and only that
/// subscriber's; a batch in which one message traps runs each message alone, so the trap is
/// that message's failure only and the others' writes are kept, once each. With reuse on too,
/// batches run in the subscriber's kept instance. The deadline is the whole batch's: one that
/// runs past it is dropped and its messages run alone.
#[tokio::test]
async fn batches_hold_one_subscribers_queued_messages_and_a_trap_runs_each_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (a, b, device) = two_hostile_subscribers(&server).await;
    let batch = json!({"limits": {"batch": 32}});
    let (status, info) = server.patch("/api/plugins/hostile", batch).await;
    assert_eq!(status, 200, "{info}");
    let remembered = "command=remember&_limit=1000";

    // Each lane's first message sleeps; the five behind it queue and run in one batch (or, if
    // the sleeper's own batch took some as they came, in two). An instance never serves
    // another subscriber: no count passes five.
    for topic in ["a/x", "b/x"] {
        device.publish(topic, "sleep 0.5").await;
    }
    for _ in 0..5 {
        for topic in ["a/x", "b/x"] {
            device.publish(topic, "remember").await;
        }
    }
    let first = server.wait_for("Attempt", remembered, 10).await;
    for subscriber in [&a, &b] {
        let mut counts: Vec<u64> = (first.iter())
            .filter(|attempt| attempt["detail"] == subscriber["id"])
            .map(|attempt| attempt["count"].as_u64().unwrap())
            .collect();
        counts.sort();
        let runs = counts.iter().filter(|count| **count == 1).count();
        assert!(counts.len() == 5 && runs <= 2, "{counts:?}");
        assert!(
            (2..=5).all(|n| counts.iter().filter(|c| **c == n).count()
                <= counts.iter().filter(|c| **c == n - 1).count()),
            "batches count from one, in their own instance: {counts:?}"
        );
    }

    // A trap in a batch: the batch's writes are dropped and each message runs alone, so
    // neither `remember` shares an instance with another.
    device.publish("a/x", "sleep 0.5").await;
    for payload in ["remember", "recurse", "remember"] {
        device.publish("a/x", payload).await;
    }
    let failed = server.wait_for("FailedMessage", "payload=recurse", 1).await;
    let error = failed[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("trapped"), "{error}");
    let attempts = server.wait_for("Attempt", remembered, 12).await;
    let alone: Vec<_> = (attempts.iter())
        .filter(|attempt| !first.contains(attempt))
        .map(|attempt| (&attempt["detail"], attempt["count"].as_u64()))
        .collect();
    assert_eq!(alone, [(&a["id"], Some(1)), (&a["id"], Some(1))]);
    let failures = server.list("FailedMessage", "").await;
    assert_eq!(failures.len(), 1, "only the trap failed: {failures:?}");

    // An unordered subscriber gets one message per call, batches or not.
    let (status, info) = (server.patch(
        &format!(
            "/api/objects/MessageSubscriber/{}",
            b["id"].as_str().unwrap()
        ),
        json!({"ordered": false}),
    ))
    .await;
    assert_eq!(status, 200, "{info}");
    device.publish("b/x", "sleep 0.3").await;
    for _ in 0..4 {
        device.publish("b/x", "remember").await;
    }
    let all = server
        .wait_for("Attempt", remembered, attempts.len() + 4)
        .await;
    let unordered: Vec<_> = (all.iter())
        .filter(|attempt| !attempts.contains(attempt))
        .map(|attempt| (&attempt["detail"], attempt["count"].as_u64()))
        .collect();
    assert_eq!(unordered, [(&b["id"], Some(1)); 4], "each alone");
    let attempts = all;

    // With reuse on as well, batches run in the subscriber's kept instance: its count goes on
    // from one batch to the next.
    let both = json!({"limits": {"batch": 32, "reuse": {"messages": 1000, "idleMs": 60_000}}});
    let (status, info) = server.patch("/api/plugins/hostile", both).await;
    assert_eq!(status, 200, "{info}");
    let mut seen = attempts;
    for expected in [[1, 2, 3, 4], [5, 6, 7, 8]] {
        device.publish("a/x", "sleep 0.3").await;
        for _ in 0..4 {
            device.publish("a/x", "remember").await;
        }
        let all = server.wait_for("Attempt", remembered, seen.len() + 4).await;
        let mut counts: Vec<u64> = (all.iter())
            .filter(|attempt| !seen.contains(attempt))
            .map(|attempt| attempt["count"].as_u64().unwrap())
            .collect();
        counts.sort();
        assert_eq!(counts, expected, "one kept instance");
        seen = all;
    }

    // The deadline is the whole batch's: two sleeps of 0.6 s fit a 1 s deadline each but not
    // together, and every batch that holds both `remember`s holds both sleeps. So some batch
    // runs out of time, all it did is dropped, and its messages run again alone: each
    // `remember` counts one, every sleep is recorded once, and nothing fails.
    let deadline = json!({"limits": {"batch": 32, "reuse": null, "timeoutMs": 1000}});
    let (status, info) = server.patch("/api/plugins/hostile", deadline).await;
    assert_eq!(status, 200, "{info}");
    let timeouts = || server.metric("switchyard_invocations_total", &["outcome=\"timeout\""]);
    let timed_out = timeouts().await;
    let slept = server
        .list("Attempt", "command=sleep&_limit=1000")
        .await
        .len();
    for payload in [
        "sleep 0.5",
        "remember",
        "sleep 0.6",
        "sleep 0.6",
        "remember",
    ] {
        device.publish("a/x", payload).await;
    }
    server
        .wait_for("Attempt", "command=sleep&_limit=1000", slept + 3)
        .await;
    let all = server.wait_for("Attempt", remembered, seen.len() + 2).await;
    let counts: Vec<_> = (all.iter())
        .filter(|attempt| !seen.contains(attempt))
        .map(|attempt| attempt["count"].as_u64())
        .collect();
    assert_eq!(
        counts,
        [Some(1), Some(1)],
        "each alone after the batch's timeout"
    );
    assert!(
        timeouts().await > timed_out,
        "a batch ran out of its deadline"
    );
    assert_eq!(
        server.list("FailedMessage", "").await.len(),
        1,
        "only the trap's"
    );
}
