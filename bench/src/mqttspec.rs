//! Data over MQTT on the embedded broker: the round trip of MQTTSpec requests (a read by id,
//! and a filtered read through a secondary index, with its total) from a device's publish to
//! its response, and the latency of change notifications from the commit to the subscribing
//! device, each at a steady 1,000 per second. Requests and creates go out on a fixed schedule
//! whatever the answers do, so a slow answer cannot hold back the ones behind it (no
//! coordinated omission). Objects: 10,000 `Order`s, each with a `sku` of its own (indexed).
//!
//! Run: `cargo run --release -p switchyard-bench -- --mqttspec [REQUESTS]`.

use anyhow::Context;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchyard::Builder;
use switchyard_mqtt::{BrokerConfig, Listeners};
use tokio::sync::{Mutex, mpsc, oneshot};

/// Requests (and creates) per second.
const RATE: u64 = 1_000;
const ORDERS: usize = 10_000;

pub async fn run(requests: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = BrokerConfig {
        listeners: Listeners {
            tcp: Some(([127, 0, 0, 1], 0).into()),
            ..Listeners::default()
        },
        ..BrokerConfig::default()
    };
    let switchyard = Builder::new(dir.path()).mqtt(config).build()?;
    let store = switchyard.store.clone();
    let port = (switchyard.mqtt.as_ref().and_then(|m| m.listeners().tcp))
        .context("the embedded broker listens")?
        .port();
    let _running = switchyard.start();
    store.create_index("Order", "sku")?;
    let mut ids = Vec::with_capacity(ORDERS);
    for chunk in (0..ORDERS).collect::<Vec<_>>().chunks(1_000) {
        let mut txn = store.begin();
        for i in chunk {
            let order = json!({"sku": format!("sku-{i}"), "status": "open", "qty": i % 7});
            ids.push(switchyard_model::id_of(&txn.create("Order", order)?).to_owned());
        }
        txn.commit()?;
    }
    let client = json!({"mainBrokerURL": "embedded", "specPrefix": "spec", "qos": 1,
                        "isEnabled": true});
    store.create(switchyard_mqtt::MQTT_CLIENT, client)?;
    let app = App::connect(port).await?;
    app.ready().await?;

    println!(
        "{requests} requests per case at {RATE}/s, {ORDERS} orders, embedded broker, QoS 1\n\
         | measured | p50 | p99 | max |\n|---|---|---|---|"
    );
    let by_id = |i: usize| json!({"operation": "read", "entity": "Order", "record_id": ids[i * 7919 % ORDERS]});
    let filtered = |i: usize| {
        let sku = format!("sku-{}", i * 7919 % ORDERS);
        json!({"operation": "read", "entity": "Order", "options":
               {"filters": [{"column": "sku", "operator": "eq", "value": sku}]}})
    };
    for (name, request) in [
        ("read by id, round trip", &by_id as &dyn Fn(usize) -> Value),
        ("filtered read (indexed, with total), round trip", &filtered),
    ] {
        let latencies = app.round_trips(requests, request).await?;
        println!("| {name} | {} |", summary(latencies));
    }

    // Notifications: a subscription to open orders, and creates committed at the same rate.
    let subscribed = app
        .ask(
            json!({"operation": "subscribe", "entity": "Order", "options":
                    {"filters": [{"column": "status", "operator": "eq", "value": "open"}]}}),
        )
        .await?;
    anyhow::ensure!(subscribed["success"] == true, "subscribed: {subscribed}");
    let epoch = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    for i in 0..requests {
        ticks.tick().await;
        let order = json!({"sku": format!("new-{i}"), "status": "open",
                           "sentNs": epoch.elapsed().as_nanos() as u64});
        store.create("Order", order)?;
    }
    let mut latencies = Vec::with_capacity(requests);
    while latencies.len() < requests {
        let notice = tokio::time::timeout(Duration::from_secs(10), app.notices.lock().await.recv())
            .await
            .context("a notification did not come")?
            .context("the device went away")?;
        let (arrived, notice) = notice;
        if let Some(sent) = notice["data"]["sentNs"].as_u64() {
            let arrived = arrived.duration_since(epoch).as_nanos() as u64;
            latencies.push(Duration::from_nanos(arrived.saturating_sub(sent)));
        }
    }
    println!(
        "| notification, commit to subscriber | {} |",
        summary(latencies)
    );
    Ok(())
}

/// A message as it arrived: when, and its JSON.
type Arrived = (Instant, Value);
/// The requests waiting for their responses, by id.
type Waiting = Arc<std::sync::Mutex<HashMap<String, oneshot::Sender<Arrived>>>>;

/// A device speaking MQTTSpec: its responses by request id, its notifications in order.
struct App {
    device: rumqttc::AsyncClient,
    waiting: Waiting,
    notices: Mutex<mpsc::UnboundedReceiver<Arrived>>,
    next: std::sync::atomic::AtomicU64,
}

impl App {
    async fn connect(port: u16) -> anyhow::Result<App> {
        let mut options = rumqttc::MqttOptions::new("app-1", "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_inflight(u16::MAX);
        let (device, mut eventloop) = rumqttc::AsyncClient::new(options, 4096);
        eventloop.network_options.set_tcp_nodelay(true);
        let waiting: Waiting = Arc::default();
        let (notify, notices) = mpsc::unbounded_channel();
        let answered = waiting.clone();
        tokio::spawn(async move {
            while let Ok(event) = eventloop.poll().await {
                let rumqttc::Event::Incoming(rumqttc::Packet::Publish(publish)) = event else {
                    continue;
                };
                let arrived = Instant::now();
                let Ok(body) = serde_json::from_slice::<Value>(&publish.payload) else {
                    continue;
                };
                if body["type"] == "notification" {
                    let _ = notify.send((arrived, body));
                } else if let Some(id) = body["id"].as_str() {
                    let waiter = answered.lock().expect("not poisoned").remove(id);
                    if let Some(waiter) = waiter {
                        let _ = waiter.send((arrived, body));
                    }
                }
            }
        });
        let qos = rumqttc::QoS::AtLeastOnce;
        device.subscribe("spec/app-1/response", qos).await?;
        device.subscribe("spec/app-1/notify/+", qos).await?;
        Ok(App {
            device,
            waiting,
            notices: Mutex::new(notices),
            next: Default::default(),
        })
    }

    /// Sends `request` with a fresh id; resolves to when its response arrived, and the response.
    async fn send(&self, mut request: Value) -> anyhow::Result<oneshot::Receiver<Arrived>> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("r{n}");
        request["id"] = json!(id);
        request["type"] = json!("request");
        let (answer, answered) = oneshot::channel();
        self.waiting
            .lock()
            .expect("not poisoned")
            .insert(id, answer);
        let qos = rumqttc::QoS::AtLeastOnce;
        (self.device)
            .publish("spec/app-1/request", qos, false, request.to_string())
            .await?;
        Ok(answered)
    }

    async fn ask(&self, request: Value) -> anyhow::Result<Value> {
        let answered = self.send(request).await?;
        let (_, response) = tokio::time::timeout(Duration::from_secs(10), answered)
            .await
            .context("no response")??;
        Ok(response)
    }

    /// Waits until the client serves requests (it connects and subscribes in the background).
    async fn ready(&self) -> anyhow::Result<()> {
        for _ in 0..100 {
            let probe = json!({"operation": "meta", "entity": "Order"});
            let answered = self.send(probe).await?;
            if tokio::time::timeout(Duration::from_millis(200), answered)
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        anyhow::bail!("the MQTTClient with specPrefix never answered")
    }

    /// Sends `count` requests at [`RATE`]; each one's time from its scheduled send to its
    /// response.
    async fn round_trips(
        &self,
        count: usize,
        request: &dyn Fn(usize) -> Value,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
        let mut pending = Vec::with_capacity(count);
        for i in 0..count {
            let scheduled = ticks.tick().await;
            let answered = self.send(request(i)).await?;
            pending.push((scheduled.into_std(), answered));
        }
        let mut latencies = Vec::with_capacity(count);
        for (scheduled, answered) in pending {
            let (arrived, response) = tokio::time::timeout(Duration::from_secs(10), answered)
                .await
                .context("no response")??;
            anyhow::ensure!(response["success"] == true, "{response}");
            latencies.push(arrived.duration_since(scheduled));
        }
        Ok(latencies)
    }
}

fn summary(mut latencies: Vec<Duration>) -> String {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    format!("{} | {} | {}", ms(at(0.5)), ms(at(0.99)), ms(at(1.0)))
}
