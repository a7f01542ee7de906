//! Measures the pipeline a user runs: an MQTT publish to the embedded broker (or a Kafka
//! produce to tansu, a Kafka-protocol broker), through the client connection and the
//! dispatcher, to a callback that stores one object.
//!
//! Two callbacks are compared over the same broker, client manager and store: the `recorder`
//! plugin (WASM, fresh instance per message) and the same work written as native Rust (the
//! baseline). For each: throughput with a burst of messages in flight, and latency (p50, p99)
//! from publish to callback completion with one message at a time. Both acknowledge only once
//! the write is on disk; a third run of the native callback without that flush shows what
//! durability costs.
//!
//! Run: `cargo run --release -p switchyard-bench [-- MESSAGES]` (the Kafka runs need
//! `scripts/install-kafka.sh`).

#[path = "../../tests/support/plugins.rs"]
mod plugins;

use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use switchyard_dispatch::{BoxFuture, Brokers, Dispatcher, Inbound, Incoming, Outcome, Retention};
use switchyard_mqtt::EmbeddedBroker;
use switchyard_runtime::{Limits, Runtime};
use switchyard_store::Store;
use tokio::sync::mpsc;

/// What the measured callback is.
enum Callback {
    Wasm(Dispatcher),
    /// The recorder's work in Rust; flushed before the ack when `durable`.
    Native {
        store: Store,
        durable: bool,
    },
}

/// Wraps the callback so the bench learns when each message is done (its writes durable, so
/// it could be acknowledged) and how long it took from the publish.
struct Timed {
    callback: Callback,
    /// The subscriber's topic filter.
    filter: &'static str,
    subscriber: String,
    epoch: Instant,
    /// When each dispatched message that is not yet durable was sent, in nanoseconds since
    /// `epoch`.
    pending: std::sync::Mutex<Vec<u64>>,
    done: mpsc::UnboundedSender<Duration>,
}

impl Inbound for Timed {
    fn filters_for(&self, _client_id: &str) -> Vec<String> {
        vec![self.filter.into()]
    }

    fn dispatch(self: Arc<Self>, message: Incoming) -> BoxFuture<'static, Outcome> {
        Box::pin(async move {
            let sent_at: Value = serde_json::from_slice(&message.payload).unwrap_or_default();
            let sent_ns = sent_at["sentNs"].as_u64().unwrap_or_default();
            let outcome = match &self.callback {
                Callback::Wasm(dispatcher) => dispatcher.dispatch(message).await,
                Callback::Native { store, .. } => {
                    native_recorder(store, &self.subscriber, &message);
                    Outcome::Done
                }
            };
            self.pending.lock().unwrap().push(sent_ns);
            outcome
        })
    }

    fn durable(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let result = match &self.callback {
                Callback::Wasm(dispatcher) => dispatcher.durable().await,
                Callback::Native { store, durable } if *durable => {
                    store.sync().await.map_err(|e| e.to_string())
                }
                Callback::Native { .. } => Ok(()),
            };
            let now = self.epoch.elapsed();
            for sent_ns in self.pending.lock().unwrap().drain(..) {
                let _ = self.done.send(now - Duration::from_nanos(sent_ns));
            }
            result
        })
    }
}

/// The recorder's work in native Rust: parse, read the subscriber's threshold, store a reading.
fn native_recorder(store: &Store, subscriber: &str, message: &Incoming) {
    let reading: Value = serde_json::from_slice(&message.payload).expect("reading JSON");
    let threshold = (store.get(subscriber).ok().flatten())
        .and_then(|s| s.get("threshold").and_then(Value::as_f64))
        .unwrap_or(30.0);
    let value = reading["value"].as_f64().expect("value");
    store
        .create(
            "TemperatureReading",
            json!({"sensorId": reading["sensorId"], "value": value, "topic": message.topic}),
        )
        .expect("storing a reading");
    assert!(
        value <= threshold,
        "bench readings stay below the threshold"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port()
}

struct Report {
    throughput: f64,
    p50: Duration,
    p99: Duration,
}

/// Which callback [`measure`] runs.
#[derive(Clone, Copy)]
enum Kind {
    Wasm,
    Native { durable: bool },
}

/// Where [`measure`]'s messages come from.
#[derive(Clone, Copy)]
enum Source {
    /// QoS 1 publishes to the embedded broker.
    Mqtt,
    /// Produces to a one-partition topic of tansu.
    Kafka,
}

impl Source {
    fn filter(self) -> &'static str {
        match self {
            Source::Mqtt => "bench/+/temperature",
            Source::Kafka => "bench-temperature",
        }
    }
}

/// A running source: its broker, the client manager and a way to send.
enum Feed {
    Mqtt {
        device: rumqttc::AsyncClient,
        manager: Arc<switchyard_mqtt::Mqtt>,
        _broker: EmbeddedBroker,
    },
    Kafka {
        producer: FutureProducer,
        manager: Arc<switchyard_kafka::Kafka>,
        _broker: Tansu,
    },
}

impl Feed {
    /// Starts the broker and the client manager of `source`, with a client of its type that
    /// sends to `inbound`; returns the feed and the client's id.
    async fn start(
        source: Source,
        store: &Store,
        brokers: &Brokers,
        inbound: Arc<dyn Inbound>,
    ) -> anyhow::Result<(Feed, String)> {
        let (feed, client) = match source {
            Source::Mqtt => {
                let addr = ([127, 0, 0, 1], free_port()).into();
                let broker = EmbeddedBroker::start(addr, None)?;
                let client =
                    store.create("MQTTClient", json!({"mainBrokerURL": "embedded", "qos": 1}))?;
                let embedded = Some(broker.tcp_addr());
                let manager = Arc::new(switchyard_mqtt::manager(store.clone(), inbound, embedded));
                brokers.register("MQTTClient", manager.clone());
                tokio::spawn(manager.clone().run());
                let mut options =
                    rumqttc::MqttOptions::new("bench-device", "127.0.0.1", addr.port());
                options.set_keep_alive(Duration::from_secs(30));
                let (device, mut eventloop) = rumqttc::AsyncClient::new(options, 1024);
                eventloop.network_options.set_tcp_nodelay(true);
                tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
                let feed = Feed::Mqtt {
                    device,
                    manager,
                    _broker: broker,
                };
                (feed, client)
            }
            Source::Kafka => {
                let broker = Tansu::start()?;
                let client = store.create(
                    "KafkaClient",
                    json!({"servers": [broker.addr], "groupId": "bench"}),
                )?;
                let manager = Arc::new(switchyard_kafka::manager(store.clone(), inbound));
                brokers.register("KafkaClient", manager.clone());
                tokio::spawn(manager.clone().run());
                let producer = rdkafka::ClientConfig::new()
                    .set("bootstrap.servers", &broker.addr)
                    .set("linger.ms", "0")
                    .create()?;
                (
                    Feed::Kafka {
                        producer,
                        manager,
                        _broker: broker,
                    },
                    client,
                )
            }
        };
        Ok((feed, client["id"].as_str().unwrap_or_default().to_owned()))
    }

    async fn send(&self, payload: String) -> anyhow::Result<()> {
        match self {
            Feed::Mqtt { device, .. } => {
                let qos = rumqttc::QoS::AtLeastOnce;
                Ok(device
                    .publish("bench/s/temperature", qos, false, payload)
                    .await?)
            }
            Feed::Kafka { producer, .. } => {
                let record = FutureRecord::<(), _>::to(Source::Kafka.filter()).payload(&payload);
                let sent = producer.send(record, Duration::from_secs(10)).await;
                sent.map(drop).map_err(|(e, _)| e.into())
            }
        }
    }

    async fn shutdown(&self) {
        match self {
            Feed::Mqtt { manager, .. } => manager.shutdown().await,
            Feed::Kafka { manager, .. } => manager.shutdown().await,
        }
    }
}

/// tansu with in-memory storage on a free port and the bench's topic, stopped when dropped.
struct Tansu {
    addr: String,
    child: std::process::Child,
}

impl Tansu {
    fn start() -> anyhow::Result<Tansu> {
        let binary = plugins::root().join(".tools/bin/tansu");
        anyhow::ensure!(binary.exists(), "run scripts/install-kafka.sh first");
        let addr = format!("127.0.0.1:{}", free_port());
        let url = format!("tcp://{addr}");
        let child = std::process::Command::new(&binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(std::process::Stdio::null())
            .spawn()?;
        let tansu = Tansu { addr, child };
        while std::net::TcpStream::connect(&tansu.addr).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let topic = Source::Kafka.filter();
        let status = std::process::Command::new(&binary)
            .args([
                "topic",
                "create",
                topic,
                "--partitions",
                "1",
                "--broker",
                &url,
            ])
            .status()?;
        anyhow::ensure!(status.success(), "creating the bench topic failed");
        Ok(tansu)
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn measure(
    name: &str,
    (source, kind): (Source, Kind),
    messages: usize,
    recorder: &[u8],
) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let runtime = Runtime::new(store.clone(), Limits::default())?;
    runtime.install("recorder", recorder)?;
    let brokers = Brokers::new(store.clone());
    let dispatcher = Dispatcher::new(
        store.clone(),
        runtime,
        brokers.clone(),
        Retention::default(),
    )?;
    let subscriber = json!({"topic": source.filter(), "callback": "recorder", "threshold": 1e9});
    let subscriber = store.create("MessageSubscriber", subscriber)?;
    let subscriber = subscriber["id"].as_str().unwrap_or_default().to_owned();
    let (done, mut completions) = mpsc::unbounded_channel();
    let epoch = Instant::now();
    let timed = Timed {
        callback: match kind {
            Kind::Wasm => Callback::Wasm(dispatcher),
            Kind::Native { durable } => Callback::Native {
                store: store.clone(),
                durable,
            },
        },
        filter: source.filter(),
        subscriber: subscriber.clone(),
        epoch,
        pending: Default::default(),
        done,
    };
    let (feed, client) = Feed::start(source, &store, &brokers, Arc::new(timed)).await?;
    store.update(&subscriber, json!({"clients": [client]}))?;
    store.update(&client, json!({"isEnabled": true}))?;

    let seq = AtomicU64::new(0);
    let publish = || {
        let n = seq.fetch_add(1, Ordering::Relaxed);
        let payload = json!({"sensorId": format!("s{}", n % 100), "value": 21.5,
                             "sentNs": epoch.elapsed().as_nanos() as u64});
        feed.send(payload.to_string())
    };

    // Warm up until the client is connected and subscribed.
    loop {
        publish().await?;
        if tokio::time::timeout(Duration::from_millis(200), completions.recv())
            .await
            .is_ok()
        {
            break;
        }
    }
    while completions.try_recv().is_ok() {}

    let start = Instant::now();
    for _ in 0..messages {
        publish().await?;
    }
    for _ in 0..messages {
        completions.recv().await;
    }
    let throughput = messages as f64 / start.elapsed().as_secs_f64();

    let mut latencies = Vec::with_capacity(messages);
    for _ in 0..messages.min(2000) {
        publish().await?;
        latencies.extend(completions.recv().await);
    }
    latencies.sort();
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let report = Report {
        throughput,
        p50: pick(0.5),
        p99: pick(0.99),
    };
    println!(
        "{name:<18} {:>10.0} msg/s   p50 {:>8.1?}   p99 {:>8.1?}",
        report.throughput, report.p50, report.p99
    );
    feed.shutdown().await;
    Ok(report)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let messages: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(5000);
    let recorder = std::fs::read(plugins::plugin("recorder"))?;
    let durable = Kind::Native { durable: true };
    println!("{messages} messages, QoS 1, embedded broker, callback stores one object");
    let wasm = measure("wasm", (Source::Mqtt, Kind::Wasm), messages, &recorder).await?;
    let native = measure("native", (Source::Mqtt, durable), messages, &recorder).await?;
    let volatile = (Source::Mqtt, Kind::Native { durable: false });
    let unflushed = measure("native, no flush", volatile, messages, &recorder).await?;
    println!(
        "wasm/native: throughput {:.2}x, p50 {:.2}x",
        wasm.throughput / native.throughput,
        wasm.p50.as_secs_f64() / native.p50.as_secs_f64()
    );
    println!(
        "durability (flush before ack): throughput {:.2}x, p50 +{:.1?}",
        native.throughput / unflushed.throughput,
        native.p50.saturating_sub(unflushed.p50)
    );
    println!("{messages} messages, Kafka (tansu, one partition), callback stores one object");
    let wasm = measure(
        "kafka wasm",
        (Source::Kafka, Kind::Wasm),
        messages,
        &recorder,
    )
    .await?;
    let native = measure(
        "kafka native",
        (Source::Kafka, durable),
        messages,
        &recorder,
    )
    .await?;
    println!(
        "kafka wasm/native: throughput {:.2}x, p50 {:.2}x",
        wasm.throughput / native.throughput,
        wasm.p50.as_secs_f64() / native.p50.as_secs_f64()
    );
    Ok(())
}
