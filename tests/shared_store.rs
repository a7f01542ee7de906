//! The store in PostgreSQL (`--store postgres://...`): a server keeps its plugins, clients,
//! subscribers and the objects its callbacks write in the database, not in its data
//! directory, so a server started on another, empty data directory finds them all; the
//! database's password shows nowhere; several instances on one database run what any of them
//! configures, lose no update when they write one object at once, and take over from one that
//! dies; a Data over MQTT change subscription held on one instance hears what another one
//! writes; and a PostgreSQL restarted under load costs nothing acknowledged. PostgreSQL is the
//! real server, a cluster of this test binary's own (see `switchyard_test_support::postgres`);
//! Kafka is tansu's.

use switchyard_test_support as support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::mosquitto::{self, Mosquitto};
use support::plugins::plugin;
use support::stream::Stream;
use support::{MqttPeer, Options, Server, eventually};

#[tokio::test]
async fn a_server_on_postgresql_keeps_everything_there_and_never_shows_the_password() {
    let url = support::postgres::database();
    let on_postgres = |http, mqtt| Options {
        http,
        mqtt,
        env: vec![("SWITCHYARD_STORE", url.clone())],
        ..Options::default()
    };
    let first_dir = tempfile::tempdir().unwrap();
    let first = Server::start_with(first_dir.path(), on_postgres(None, None)).await;
    assert!(
        first
            .logs()
            .contains("store:     postgres://postgres@127.0.0.1:"),
        "the banner names the store: {}",
        first.logs()
    );
    first.upload("recorder", &plugin("recorder")).await;
    let client = first
        .connected_client(json!({"name": "site", "mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    first.subscribe_client(&client, "s/+", "recorder").await;
    let device = MqttPeer::connect(first.mqtt, None, &[]).await;
    first.record_reading(&device, "s/a", "first").await;
    let rows = support::postgres::query(
        &url,
        "SELECT count(*) FROM objects WHERE type = 'TemperatureReading'",
    );
    assert_eq!(rows.trim(), "1", "the reading is a row in PostgreSQL");
    let (http, mqtt) = (first.http, first.mqtt);
    let first_logs = first.logs();
    first.stop();
    drop(device);

    // Another data directory, empty: everything comes from the database.
    let second_dir = tempfile::tempdir().unwrap();
    let second = Server::start_with(second_dir.path(), on_postgres(Some(http), Some(mqtt))).await;
    let (_, plugins) = second.get("/api/plugins").await;
    assert_eq!(plugins["result"][0]["name"], "recorder", "{plugins}");
    assert_eq!(second.list("TemperatureReading", "").await.len(), 1);
    second.wait_connected(&client).await;
    let device = MqttPeer::connect(second.mqtt, None, &[]).await;
    second.record_reading(&device, "s/b", "second").await;

    let mut shown = vec![first_logs, second.logs()];
    for path in [
        "/api/health",
        "/health",
        "/api/plugins",
        "/api/objects/MQTTClient",
    ] {
        shown.push(second.get(path).await.1.to_string());
    }
    for text in shown {
        assert!(
            !text.contains(support::postgres::PASSWORD),
            "the database password shows: {text}"
        );
    }
}

/// Two instances on one database: a subscriber created through one routes messages on the
/// other within a second, and a plugin uploaded to one runs on the other (compiled there).
#[tokio::test]
async fn what_one_instance_configures_the_other_runs() {
    let (a, b, _dirs) = two_instances().await;

    b.upload("recorder", &plugin("recorder")).await;
    let client = a
        .connected_client(json!({"name": "site", "mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    a.subscribe_client(&client, "warm/+", "recorder").await;
    // B runs the client A created, with the plugin uploaded to B, for B's own devices.
    let device_b = MqttPeer::connect(b.mqtt, None, &[]).await;
    b.record_reading(&device_b, "warm/b", "warm").await;

    // A subscriber created on A: B routes what its device publishes from then on. Each try
    // carries its number; the first one recorded says how soon B routed.
    let created = Instant::now();
    a.subscribe_client(&client, "s/+", "recorder").await;
    let mut tries = Vec::new();
    let routed = loop {
        let sent = created.elapsed();
        let payload = json!({"sensorId": "late", "value": tries.len()}).to_string();
        device_b.publish("s/b", payload).await;
        tries.push(sent);
        let recorded = b.list("TemperatureReading", "sensorId=late").await;
        if let Some(first) = recorded.iter().filter_map(|r| r["value"].as_u64()).min() {
            break tries[first as usize];
        }
        assert!(
            created.elapsed() < Duration::from_secs(20),
            "B never routed s/+"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("B routed the new subscriber's messages {routed:?} after A created it");
    assert!(
        routed <= Duration::from_secs(1),
        "B routed the new subscriber's messages {routed:?} after A created it"
    );

    // A tenant and its quota made through A hold on B.
    let quotas = json!({"name": "acme", "quotas": {"objects": 1}});
    assert_eq!(a.post("/api/tenants", quotas).await.0, StatusCode::CREATED);
    let acme_on_b = b.in_tenant("acme");
    eventually(
        "B refusing acme's second object",
        Duration::from_secs(10),
        || async {
            let (status, _) = acme_on_b.post("/api/objects/Note", json!({})).await;
            (status == StatusCode::TOO_MANY_REQUESTS).then_some(())
        },
    )
    .await;
    assert_eq!(acme_on_b.list("Note", "").await.len(), 1);

    // A plugin uploaded to B runs on A.
    b.upload("recorder-two", &plugin("recorder")).await;
    a.subscribe_client(&client, "two/+", "recorder-two").await;
    let device_a = MqttPeer::connect(a.mqtt, None, &[]).await;
    a.record_reading(&device_a, "two/a", "two").await;
}

/// Two instances on one new database, and their data directories (kept while they run).
async fn two_instances() -> (Server, Server, [tempfile::TempDir; 2]) {
    let url = support::postgres::database();
    let options = || Options {
        env: vec![("SWITCHYARD_STORE", url.clone())],
        ..Options::default()
    };
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = Server::start_with(dirs[0].path(), options()).await;
    let b = Server::start_with(dirs[1].path(), options()).await;
    (a, b, dirs)
}

/// A device subscribed to changes over Data over MQTT on instance A is notified of an object
/// created through instance B's REST API: the subscription follows the database's change
/// notices, not only A's own commits.
#[tokio::test]
async fn a_change_subscription_hears_what_another_instance_writes() {
    let (a, b, _dirs) = two_instances().await;
    a.connected_client(
        json!({"mainBrokerURL": "embedded", "specPrefix": "spec", "qos": 1,
                              "isEnabled": true}),
    )
    .await;
    let filters = ["spec/+/response", "spec/+/notify/+"];
    let mut device = MqttPeer::connect(a.mqtt, None, &filters).await;
    let request = format!("spec/{}/request", device.id());
    let subscribe = json!({"id": "s1", "type": "subscription", "operation": "subscribe",
        "entity": "Order", "options": {"filters": [{"column": "status", "operator": "eq", "value": "open"}]}});
    let started = Instant::now();
    let subscribed: Value = loop {
        // Until A's client has subscribed to the requests, they reach nobody: ask again.
        device.publish(&request, subscribe.to_string()).await;
        if let Some((_, payload)) = device.nothing_within(Duration::from_millis(500)).await {
            break serde_json::from_slice(&payload).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "A never served the request"
        );
    };
    assert_eq!(subscribed["success"], true, "{subscribed}");

    b.create("Order", json!({"item": "closed on b", "status": "closed"}))
        .await;
    b.create("Order", json!({"item": "open on b", "status": "open"}))
        .await;
    let notice: Value = loop {
        let (topic, payload) = device.next(Duration::from_secs(20)).await;
        if topic.contains("/notify/") {
            break serde_json::from_slice(&payload).unwrap();
        }
    };
    assert_eq!(notice["operation"], "create", "{notice}");
    assert_eq!(
        notice["data"]["item"], "open on b",
        "only the matching change: {notice}"
    );
}

/// Two instances writing one object at once, through REST (merges of each writer's own
/// property, and increments with `If-Match`) and through a plugin's read-modify-write run by
/// both instances for their own devices: the database's row locks make a stale write a
/// conflict on either instance, so no update is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_writing_one_object_lose_no_update() {
    const MERGES: u64 = 20;
    const REST_INCREMENTS: u64 = 20;
    const PLUGIN_INCREMENTS: u64 = 50;
    let url = support::postgres::database();
    let options = || Options {
        env: vec![("SWITCHYARD_STORE", url.clone())],
        ..Options::default()
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Arc::new(Server::start_with(dir_a.path(), options()).await);
    let b = Arc::new(Server::start_with(dir_b.path(), options()).await);
    a.upload("chaos", &plugin("chaos")).await;
    let client = a
        .connected_client(json!({"name": "site", "mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    a.subscribe_client(&client, "incr/#", "chaos").await;
    let counter = a.create("Counter", json!({"count": 0})).await;
    let path = format!("/api/objects/Counter/{}", id(&counter));
    let mut devices = Vec::new();
    // A probe of each instance's own, so each has run the plugin before the stream starts.
    for (i, server) in [&a, &b].into_iter().enumerate() {
        let device = MqttPeer::connect(server.mqtt, None, &[]).await;
        let topic = format!("incr/probe-{i}");
        let (probe, record) = ((&*topic, "ok \"probe\""), format!("topic={topic}"));
        (server)
            .publish_until_stored(&device, probe, ("ChaosRecord", &record))
            .await;
        devices.push(device);
    }

    let mut tasks = Vec::new();
    for writer in 0..4 {
        let (server, path) = ([&a, &b][writer % 2].clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            for i in 1..=MERGES {
                let (status, body) = server.patch(&path, json!({format!("w{writer}"): i})).await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
        }));
    }
    for server in [&a, &b] {
        let (server, path) = (server.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..REST_INCREMENTS {
                server.increment(&path, "count").await;
            }
        }));
    }
    let increment = format!("incr {}", id(&counter));
    for _ in 0..PLUGIN_INCREMENTS {
        for device in &devices {
            device.publish("incr/counter", increment.clone()).await;
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let expected = 2 * REST_INCREMENTS + 2 * PLUGIN_INCREMENTS;
    let counter = eventually("every increment", Duration::from_secs(60), || async {
        let counter = b.get(&path).await.1;
        (counter["count"].as_u64() >= Some(expected)).then_some(counter)
    })
    .await;
    assert_eq!(counter["count"], expected, "{counter}");
    for writer in 0..4 {
        assert_eq!(counter[format!("w{writer}")], MERGES, "{counter}");
    }
    assert!(a.list("FailedMessage", "").await.is_empty());
}

/// Three instances on one PostgreSQL, one Mosquitto and one Kafka-protocol broker (tansu): an
/// MQTT client in a share group (every instance subscribes as a member, each with a session of
/// its own kept at QoS 1), an exclusive MQTT client (run by one instance at a time, the holder
/// of its lease) and a Kafka client whose group splits a 6-partition topic between the
/// instances. 10,000 messages stream to the three while the instance running the exclusive
/// client is SIGKILLed: every message a broker acknowledged has its record (duplicates
/// allowed), what Mosquitto had queued for the dead member's session included (another
/// instance adopts that session), another instance runs the exclusive client within 15 s, and
/// no client ever runs on two instances at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_stream_loses_nothing_and_its_exclusive_client_moves() {
    const MQTT_MESSAGES: u64 = 3000;
    const KAFKA_MESSAGES: u64 = 4000;
    let url = support::postgres::database();
    let kafka = support::kafka::broker();
    let orders = format!("orders-{}", support::free_port());
    kafka.create_topic(&orders, 6);
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    // Started at once: each creates or migrates the schema, one after another under its lock.
    let starting = ["a", "b", "c"].map(|name| {
        let own = dir.path().join(name);
        std::fs::create_dir_all(&own).unwrap();
        let options = Options {
            env: vec![("SWITCHYARD_STORE", url.clone())],
            ..Options::default()
        };
        async move { Server::start_with(&own, options).await }
    });
    let servers = futures::future::join_all(starting).await;
    let first = &servers[0];
    first.upload("chaos", &plugin("chaos")).await;
    let client = |client_id: &str, group: Option<&str>| {
        json!({
            "mainBrokerURL": format!("mqtt://{}", broker.addr),
            "username": mosquitto::USER, "password": mosquitto::PASSWORD,
            "qos": 1, "cleanSession": false, "clientId": client_id, "isEnabled": true,
            "shareGroup": group,
        })
    };
    let shared = first
        .create("MQTTClient", client("members", Some("switchyard")))
        .await;
    let exclusive = first.create("MQTTClient", client("exclusive", None)).await;
    let (shared, exclusive) = (id(&shared), id(&exclusive));
    for (topic, client) in [("shared/#", &shared), ("exclusive/#", &exclusive)] {
        first.subscribe_client(client, topic, "chaos").await;
    }
    let group = json!({"servers": [kafka.addr], "groupId": "switchyard", "isEnabled": true});
    let grouped = id(&first.create("KafkaClient", group).await);
    first
        .subscriber(&orders, "chaos", &grouped, json!({}))
        .await;
    let creds = Some((mosquitto::USER, mosquitto::PASSWORD));
    let device = MqttPeer::connect(broker.addr, creds, &[]).await;
    for topic in ["shared/probe", "exclusive/probe"] {
        let probe = (topic, "ok \"probe\"");
        let record = ("ChaosRecord", &*format!("topic={topic}"));
        first.publish_until_stored(&device, probe, record).await;
    }
    // Every instance is a member of the share group before the stream starts.
    eventually(
        "three members subscribed",
        Duration::from_secs(30),
        || async {
            let members = (servers.iter())
                .filter(|server| server.logs().contains("MQTT client connected"))
                .count();
            (members == 3).then_some(())
        },
    )
    .await;

    let owner = runner_of(first, &exclusive, None).await;
    let victim = (servers.iter())
        .position(|server| owner.address == format!("http://{}", server.http))
        .expect("the exclusive client runs on one of the three");
    let number = |topic: &'static str, command: &'static str| {
        move |i: u64| (topic.to_owned(), format!("{command} {i}").into_bytes())
    };
    // The shared stream comes faster than slow callbacks take it, so the broker queues each
    // member's share in its session, the killed member's too.
    let slow = number("shared/stream", "slow-ok");
    let to_shared = Stream::start(broker.addr, creds, MQTT_MESSAGES, None, slow);
    let steady = number("exclusive/stream", "ok");
    let to_exclusive = Stream::start(broker.addr, creds, MQTT_MESSAGES, Some(300), steady);
    let to_kafka = kafka.stream(&orders, KAFKA_MESSAGES, 400, |i| format!("ok {i}"));
    eventually("a few hundred records", Duration::from_secs(60), || async {
        let recorded = first.chaos_numbers("exclusive/stream").await.len();
        (recorded >= 200).then_some(())
    })
    .await;
    servers[victim].kill();
    let killed = Instant::now();
    let survivor = &servers[(victim + 1) % 3];
    let taken_over = runner_of(survivor, &exclusive, Some(&owner.id)).await;
    let took = killed.elapsed();
    eprintln!(
        "instance {} runs the exclusive client {took:?} after the kill",
        taken_over.id
    );
    assert!(took <= Duration::from_secs(15), "took over after {took:?}");

    for (stream, topic) in [
        (to_shared, "shared/stream"),
        (to_exclusive, "exclusive/stream"),
    ] {
        let acked = stream.finish().await;
        assert_eq!(acked.len() as u64, MQTT_MESSAGES);
        every_one_recorded(survivor, topic, &acked).await;
    }
    let acked = to_kafka.await.unwrap();
    assert_eq!(
        acked.len() as u64,
        KAFKA_MESSAGES,
        "tansu acknowledged each"
    );
    every_one_recorded(survivor, &orders, &acked).await;
    let adopted = eventually(
        "the killed member's session adopted",
        Duration::from_secs(60),
        || async {
            (servers.iter())
                .flat_map(|server| server.logs().lines().map(str::to_owned).collect::<Vec<_>>())
                .find(|line| line.contains("adopted a session of an instance that died"))
        },
    )
    .await;
    eprintln!("{adopted}");
    // No client ran on two instances at once, the exclusive one in particular (while the
    // instance holding it was busy adopting the session, say): Mosquitto never had to close
    // a connection because another came with the same client id.
    let log = broker.log();
    let twice: Vec<&str> = (log.lines())
        .filter(|line| line.contains("already connected"))
        .collect();
    assert!(
        twice.is_empty(),
        "a client ran twice at once:\n{}",
        twice.join("\n")
    );
}

/// Waits until `server` finds a `ChaosRecord` of each of the messages `acked` on `topic`.
async fn every_one_recorded(server: &Server, topic: &str, acked: &BTreeSet<u64>) {
    let what = format!("a record of every message acknowledged on {topic}");
    eventually(&what, Duration::from_secs(120), || async {
        let recorded = server.chaos_numbers(topic).await;
        acked.is_subset(&recorded).then_some(())
    })
    .await;
}

/// An instance as `GET /api/instances` lists it.
struct Runner {
    id: String,
    address: String,
}

/// The instance `server` lists as running `client`, other than `not`, once there is one.
async fn runner_of(server: &Server, client: &str, not: Option<&str>) -> Runner {
    eventually(
        "an instance running the client",
        Duration::from_secs(60),
        || async {
            let (_, instances) = server.get("/api/instances").await;
            let runs = |instance: &&Value| {
                instance["clients"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c == client))
                    && instance["id"].as_str() != not
            };
            let instances = instances["result"].as_array()?.clone();
            let found = instances.iter().find(runs)?;
            Some(Runner {
                id: found["id"].as_str()?.to_owned(),
                address: found["address"].as_str()?.to_owned(),
            })
        },
    )
    .await
}

fn id(object: &Value) -> String {
    object["id"].as_str().expect("an id").to_owned()
}

/// PostgreSQL stopped under load and started again: while it is away `/health` says the
/// server is degraded and why, nothing is acknowledged (messages wait at Mosquitto, in the
/// client's persistent session), and once it is back every message Mosquitto acknowledged has
/// its record. The cluster is this test's own, so stopping it touches no other test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_under_load_loses_nothing_acknowledged() {
    const MESSAGES: u64 = 1500;
    let cluster = support::postgres::OwnCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    let options = Options {
        env: vec![("SWITCHYARD_STORE", cluster.database())],
        ..Options::default()
    };
    let server = Server::start_with(dir.path(), options).await;
    server.upload("chaos", &plugin("chaos")).await;
    let client = server
        .create(
            "MQTTClient",
            json!({
                "mainBrokerURL": format!("mqtt://{}", broker.addr),
                "username": mosquitto::USER, "password": mosquitto::PASSWORD,
                "qos": 1, "cleanSession": false, "clientId": "through-a-restart",
                "isEnabled": true,
            }),
        )
        .await;
    server
        .subscribe_client(&id(&client), "stream/#", "chaos")
        .await;
    let creds = Some((mosquitto::USER, mosquitto::PASSWORD));
    let device = MqttPeer::connect(broker.addr, creds, &[]).await;
    let probe = ("stream/probe", "ok \"probe\"");
    (server)
        .publish_until_stored(&device, probe, ("ChaosRecord", "topic=stream/probe"))
        .await;

    let message = |i: u64| ("stream/n".to_owned(), format!("ok {i}").into_bytes());
    let stream = Stream::start(broker.addr, creds, MESSAGES, Some(300), message);
    eventually("a few hundred records", Duration::from_secs(60), || async {
        (server.chaos_numbers("stream/n").await.len() >= 200).then_some(())
    })
    .await;
    cluster.stop();
    let degraded = eventually("/health degraded", Duration::from_secs(30), || async {
        let (status, body) = server.get("/health").await;
        (status == StatusCode::SERVICE_UNAVAILABLE).then_some(body)
    })
    .await;
    assert_eq!(degraded["status"], "degraded", "{degraded}");
    let reason = degraded["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("PostgreSQL"), "{reason}");
    cluster.start_again();
    eventually("/health ok again", Duration::from_secs(30), || async {
        (server.get("/health").await.0 == StatusCode::OK).then_some(())
    })
    .await;

    let acked = stream.finish().await;
    assert_eq!(acked.len() as u64, MESSAGES);
    every_one_recorded(&server, "stream/n", &acked).await;
}
