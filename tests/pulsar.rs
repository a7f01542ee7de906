//! `PulsarClient`s end to end against a real Pulsar-protocol broker: pulsar-lite (see
//! `support::pulsar`), which speaks Pulsar's binary protocol but is not Apache Pulsar (not on
//! the registries). Covered: consuming into callbacks with key and properties, publishing from
//! callbacks and over REST, acknowledgement (nothing acknowledged comes back), negative
//! acknowledgement of a message Switchyard could not settle (the broker redelivers it to
//! another consumer), a
//! Shared subscription split across two servers, SIGKILL mid-stream losing nothing, status that
//! follows the broker and the object, and interop with the official Python client.

use switchyard_test_support as support;

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::plugins::plugin;
use support::pulsar;
use support::{Options, Server, eventually};
use switchyard_broker::{BoxFuture, BrokerKind, Clients, Inbound, Incoming, Outcome};

/// A topic name no other test uses.
fn topic(prefix: &str) -> String {
    format!("{prefix}-{}", support::free_port())
}

/// Creates an enabled `PulsarClient` with `extra` properties and waits until it is connected;
/// returns its id.
async fn pulsar_client(server: &Server, url: &str, extra: Value) -> String {
    let mut client = json!({"name": "pulsar", "servers": [url], "isEnabled": true});
    let fields = client.as_object_mut().unwrap();
    fields.extend(extra.as_object().unwrap().clone());
    let client = server.create("PulsarClient", client).await;
    let id = client["id"].as_str().unwrap().to_owned();
    status(server, &id, "connected", connected).await;
    id
}

fn connected(client: &Value) -> bool {
    client["isConnected"] == json!(true) && client["lastError"].is_null()
}

/// Waits until the Pulsar client satisfies `check`; returns it.
async fn status(server: &Server, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    server
        .client_status(("PulsarClient", id), what, check)
        .await
}

#[tokio::test]
async fn callbacks_consume_pulsar_with_key_and_properties_publish_back_and_acknowledge() {
    let broker = pulsar::broker();
    let (orders, confirmations) = (topic("orders"), topic("confirmations"));
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    server.upload("chaos", &plugin("chaos")).await;
    server.upload("forwarder", &plugin("forwarder")).await;
    let client = pulsar_client(&server, &broker.url, json!({"subscription": "shop"})).await;
    server
        .subscriber(&orders, "chaos", &client, json!({}))
        .await;
    // The same topic by the full name Pulsar users write: matched in its short form.
    let forward = json!({"forwardTo": confirmations});
    let full = format!("persistent://public/default/{orders}");
    server
        .subscriber(&full, "forwarder", &client, forward)
        .await;

    let producer = pulsar::client(&broker.url).await;
    let properties = [("source", "till-7")];
    pulsar::produce(&producer, &orders, Some("order-1"), &properties, "meta").await;
    let meta = server.wait_for("Meta", "", 1).await.remove(0);
    assert_eq!(meta["topic"], json!(orders), "the short topic name: {meta}");
    assert_eq!(meta["key"], "order-1");
    assert_eq!(meta["headers"]["source"], "till-7");

    for n in 1..=20 {
        pulsar::produce(&producer, &orders, None, &[], &format!("ok {n}")).await;
    }
    server
        .wait_for("ChaosRecord", &format!("topic={orders}&_limit=100"), 20)
        .await;

    // The forwarder published every order back to Pulsar; REST publishes too.
    let (code, body) = server
        .post(
            &format!("/api/clients/{client}/publish"),
            json!({"topic": confirmations, "message": "by hand"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let received = pulsar::receive(&broker.url, &confirmations, "downstream", 22).await;
    assert!(received.contains(&"ok 20".to_owned()) && received.contains(&"by hand".to_owned()));

    // A topic Pulsar cannot name is refused with the rule.
    let (code, body) = server
        .post(
            &format!("/api/clients/{client}/publish"),
            json!({"topic": "orders/eu", "message": "x"}),
        )
        .await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not a Pulsar topic name")
    );

    // Acknowledged means done: a server started again on the same subscription gets only what
    // came after.
    let options = Options {
        token: Some(server.token.clone()),
        ..Options::default()
    };
    server.stop();
    let again = Server::start_with(dir.path(), options).await;
    pulsar::produce(&producer, &orders, None, &[], "ok 21").await;
    eventually(
        "the message after the restart",
        Duration::from_secs(30),
        || async {
            again
                .chaos_records(&orders)
                .await
                .contains_key(&21)
                .then_some(())
        },
    )
    .await;
    let counts = again.chaos_records(&orders).await;
    assert!(
        counts.values().all(|&n| n == 1),
        "delivered again: {counts:?}"
    );
}

/// Stands in for a server's dispatcher, one whose store works or one whose store fails (every
/// dispatch cannot be settled). The broker and the connections are real.
struct Dispatcher {
    topic: String,
    store_works: bool,
    dispatched: Mutex<BTreeMap<String, usize>>,
}

impl Dispatcher {
    fn payloads(&self) -> BTreeSet<String> {
        self.dispatched.lock().unwrap().keys().cloned().collect()
    }
}

impl Inbound for Dispatcher {
    fn filters_for(&self, _tenant: &str, _client_id: &str) -> Vec<String> {
        vec![self.topic.clone()]
    }

    fn dispatch(self: Arc<Self>, message: Incoming) -> BoxFuture<'static, Outcome> {
        let payload = String::from_utf8_lossy(&message.payload).into_owned();
        *self.dispatched.lock().unwrap().entry(payload).or_default() += 1;
        let outcome = match self.store_works {
            true => Outcome::Done,
            false => Outcome::Retry(
                switchyard_store::Error::Storage {
                    doing: "committing",
                    source: Arc::new(std::io::Error::other("the disk is full")),
                }
                .into(),
            ),
        };
        Box::pin(std::future::ready(outcome))
    }

    fn durable(&self) -> BoxFuture<'_, Result<(), switchyard_store::Error>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A `PulsarClient` connection on subscription `nack` of `topic`, run by a manager of its own.
async fn connection(
    dir: &std::path::Path,
    url: &str,
    topic: &str,
    store_works: bool,
) -> (Arc<dyn Clients>, Arc<Dispatcher>) {
    let store = switchyard_store::Store::open(dir, switchyard::client_kinds()).unwrap();
    let client = json!({"servers": [url], "subscription": "nack", "isEnabled": true});
    store.create("PulsarClient", client).unwrap();
    let dispatcher = Arc::new(Dispatcher {
        topic: topic.to_owned(),
        store_works,
        dispatched: Mutex::default(),
    });
    let manager = switchyard_pulsar::Pulsar.start(store, dispatcher.clone());
    tokio::spawn(manager.clone().run());
    (manager, dispatcher)
}

#[tokio::test]
async fn a_message_that_cannot_be_settled_is_negatively_acknowledged_for_another_consumer() {
    let broker = pulsar::broker();
    let stream = topic("unsettled");
    let dir = tempfile::tempdir().unwrap();
    let (failing, broken) = connection(&dir.path().join("a"), &broker.url, &stream, false).await;
    let producer = pulsar::client(&broker.url).await;
    let sent: BTreeSet<String> = (0..10).map(|n| format!("m{n}")).collect();
    for payload in &sent {
        pulsar::produce(&producer, &stream, None, &[], payload).await;
    }
    eventually(
        "the broken server to try every message",
        Duration::from_secs(30),
        || async { (broken.payloads() == sent).then_some(()) },
    )
    .await;

    // It hands them back instead of holding on to them: the broker gives them to a server
    // that can settle them, which acknowledges them.
    let (working, works) = connection(&dir.path().join("b"), &broker.url, &stream, true).await;
    eventually(
        "the working server to get every message",
        Duration::from_secs(30),
        || async { (works.payloads() == sent).then_some(()) },
    )
    .await;
    failing.shutdown().await;
    working.shutdown().await;
    pulsar::produce(&producer, &stream, None, &[], "after").await;
    let next = pulsar::receive(&broker.url, &stream, "nack", 1).await;
    assert_eq!(next, ["after"]);
}

#[tokio::test]
async fn a_shared_subscription_splits_the_messages_between_two_servers() {
    let broker = pulsar::broker();
    let events = topic("events");
    let dir = tempfile::tempdir().unwrap();
    let mut servers = Vec::new();
    for name in ["a", "b"] {
        let home = dir.path().join(name);
        std::fs::create_dir_all(&home).unwrap();
        let server = Server::start(&home).await;
        server.upload("chaos", &plugin("chaos")).await;
        let shared = json!({"subscription": "workers", "subscriptionType": "Shared"});
        let client = pulsar_client(&server, &broker.url, shared).await;
        server
            .subscriber(&events, "chaos", &client, json!({}))
            .await;
        servers.push(server);
    }
    // Both consumers are on the subscription before anything is sent.
    for server in &servers {
        let client = server.list("PulsarClient", "").await.remove(0);
        let id = client["id"].as_str().unwrap();
        status(server, id, "subscribed", connected).await;
    }
    let producer = pulsar::client(&broker.url).await;
    const MESSAGES: u64 = 200;
    for n in 0..MESSAGES {
        pulsar::produce(&producer, &events, None, &[], &format!("slow-ok {n}")).await;
    }
    let all: BTreeSet<u64> = (0..MESSAGES).collect();
    let (a, b) = (&servers[0], &servers[1]);
    let (in_a, in_b) = eventually("every event consumed", Duration::from_secs(60), || async {
        let (in_a, in_b) = (
            a.chaos_numbers(&events).await,
            b.chaos_numbers(&events).await,
        );
        (in_a.union(&in_b).copied().collect::<BTreeSet<_>>() == all).then_some((in_a, in_b))
    })
    .await;
    assert!(
        !in_a.is_empty() && !in_b.is_empty(),
        "one server got every message: a {}, b {}",
        in_a.len(),
        in_b.len()
    );
}

#[tokio::test]
async fn sigkill_mid_stream_loses_no_acknowledged_message() {
    let mut broker = pulsar::own_broker();
    let url = format!("pulsar://{}", broker.addr);
    let stream = topic("stream");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    server.upload("chaos", &plugin("chaos")).await;
    let client = pulsar_client(&server, &url, json!({"subscription": "durable"})).await;
    server
        .subscriber(&stream, "chaos", &client, json!({}))
        .await;

    const MESSAGES: u64 = 1000;
    let producer = pulsar::client(&url).await;
    for n in 0..MESSAGES {
        pulsar::produce(&producer, &stream, None, &[], &format!("slow-ok {n}")).await;
    }
    eventually(
        "the stream to be under way",
        Duration::from_secs(60),
        || async { (server.chaos_numbers(&stream).await.len() > 300).then_some(()) },
    )
    .await;
    server.kill();
    // pulsar-lite 0.2.0 keeps a consumer whose connection was reset, so the subscription
    // would refuse the new one: restart it (its storage is kept) before Switchyard.
    broker.restart();
    let options = Options {
        token: Some(server.token.clone()),
        ..Options::default()
    };
    let again = Server::start_with(dir.path(), options).await;
    let all: BTreeSet<u64> = (0..MESSAGES).collect();
    eventually(
        "every message after the restart",
        Duration::from_secs(120),
        || async { (again.chaos_numbers(&stream).await == all).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn status_follows_the_broker_and_the_object_live() {
    let mut broker = pulsar::own_broker();
    let url = format!("pulsar://{}", broker.addr);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let id = pulsar_client(&server, &url, json!({"token": "hidden-jwt"})).await;

    broker.kill();
    let down = status(&server, &id, "to notice the broker is gone", |c| {
        c["isConnected"] == json!(false) && c["lastError"].is_string()
    })
    .await;
    assert!(!down.to_string().contains("hidden-jwt"), "{down}");
    broker.restart();
    status(&server, &id, "to reconnect by itself", connected).await;

    let path = format!("/api/objects/PulsarClient/{id}");
    let (code, _) = server.patch(&path, json!({"isEnabled": false})).await;
    assert_eq!(code, 200);
    status(&server, &id, "disconnected", |c| {
        c["isConnected"] == json!(false)
    })
    .await;
    let edit = json!({"isEnabled": true, "subscriptionType": "Failover"});
    let (code, _) = server.patch(&path, edit).await;
    assert_eq!(code, 200);
    status(&server, &id, "connected again", connected).await;
    let (code, body) = server
        .patch(&path, json!({"subscriptionType": "Fanout"}))
        .await;
    assert_eq!(code, 422, "{body}");
    assert!(
        !server.logs().contains("hidden-jwt"),
        "the token was logged"
    );
}

/// The official Python client (`pulsar-client`) sends to Switchyard with a key and properties,
/// and receives what Switchyard publishes.
#[tokio::test]
async fn the_official_python_client_interoperates() {
    let broker = pulsar::broker();
    let (inbox, outbox) = (topic("from-python"), topic("to-python"));
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    server.upload("chaos", &plugin("chaos")).await;
    let client = pulsar_client(&server, &broker.url, json!({})).await;
    server.subscriber(&inbox, "chaos", &client, json!({})).await;

    pulsar::python(
        &broker.url,
        "p = client.create_producer(sys.argv[2])\n\
         p.send(b'meta', properties={'device': 'py-1'}, partition_key='k-py')",
        &[&pulsar::full(&inbox)],
    );
    let meta = server.wait_for("Meta", "", 1).await.remove(0);
    assert_eq!(
        (meta["key"].as_str(), meta["topic"].as_str()),
        (Some("k-py"), Some(inbox.as_str()))
    );
    assert_eq!(meta["headers"]["device"], "py-1");

    let (code, body) = server
        .post(
            &format!("/api/clients/{client}/publish"),
            json!({"topic": outbox, "message": "hello python"}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let received = pulsar::python(
        &broker.url,
        "s = client.subscribe(sys.argv[2], 'py', \
             initial_position=pulsar.InitialPosition.Earliest)\n\
         m = s.receive(30000)\n\
         s.acknowledge(m)\n\
         print(m.data().decode())",
        &[&pulsar::full(&outbox)],
    );
    assert_eq!(received.trim(), "hello python");
}

/// The README's Pulsar walk-through: order events become `Order` objects and each order's
/// confirmation is published back to Pulsar.
#[tokio::test]
async fn orders_from_pulsar_become_objects_and_are_confirmed_on_pulsar() {
    let broker = pulsar::broker();
    let (orders, confirmed) = (topic("orders"), topic("orders-confirmed"));
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let order_plugin = support::plugins::as_plugin("plugins/order-as", "order_as.wasm");
    server.upload("orders", &order_plugin).await;
    let client = pulsar_client(&server, &broker.url, json!({})).await;
    let confirm = json!({"confirmTopic": confirmed});
    server.subscriber(&orders, "orders", &client, confirm).await;

    let producer = pulsar::client(&broker.url).await;
    let order = r#"{"orderId":"o1","item":"widget","quantity":3,"price":2.5}"#;
    pulsar::produce(&producer, &orders, Some("o1"), &[], order).await;
    let stored = server.wait_for("Order", "orderId=o1", 1).await.remove(0);
    assert_eq!(stored["total"], 7.5);
    let received = pulsar::receive(&broker.url, &confirmed, "confirmations", 1).await;
    let confirmation: Value = serde_json::from_str(&received[0]).unwrap();
    assert_eq!(
        confirmation,
        json!({"orderId": "o1", "status": "accepted", "total": 7.5})
    );
}

/// A wildcard filter subscribes to every topic of its namespace through Pulsar's namespace
/// listing, which pulsar-lite does not answer (Apache Pulsar does): so what is shown here is
/// that the client says so in `lastError` and goes on following its named topics.
#[tokio::test]
async fn a_wildcard_the_broker_cannot_list_is_reported_and_named_topics_go_on() {
    let broker = pulsar::broker();
    let namespace = format!("acme/plant-{}", support::free_port());
    let named = topic("named");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    server.upload("chaos", &plugin("chaos")).await;
    let client = pulsar_client(&server, &broker.url, json!({})).await;
    server.subscriber(&named, "chaos", &client, json!({})).await;
    let wildcard = format!("{namespace}/*");
    server
        .subscriber(&wildcard, "chaos", &client, json!({}))
        .await;
    let reported = status(&server, &client, "to report the wildcard", |c| {
        c["isConnected"] == json!(true)
            && c["lastError"]
                .as_str()
                .is_some_and(|e| e.contains(&wildcard))
    })
    .await;
    assert!(
        reported["lastError"]
            .as_str()
            .unwrap()
            .starts_with(&format!("cannot follow `{wildcard}`"))
    );
    let producer = pulsar::client(&broker.url).await;
    pulsar::produce(&producer, &named, None, &[], "ok 1").await;
    eventually(
        "the named topic's message",
        Duration::from_secs(30),
        || async {
            server
                .chaos_records(&named)
                .await
                .contains_key(&1)
                .then_some(())
        },
    )
    .await;
}
