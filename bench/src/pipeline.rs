//! One measured pipeline: a broker (the embedded MQTT broker, or tansu for Kafka), the client
//! manager, the dispatcher and its subscribers, and a callback that is either a plugin (WASM)
//! or the same work registered as a native callback. Everything but the callback is the same.

use crate::natives;
use anyhow::Context;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use switchyard::Builder;
use switchyard_broker::{BoxFuture, Inbound, Incoming, Outcome};
use switchyard_dispatch::{Dispatcher, NativeCallback};
use switchyard_model::DEFAULT_TENANT;
use switchyard_mqtt::{BrokerConfig, Listeners};
use switchyard_runtime::profile;
use switchyard_store::Store;
use switchyard_test_support::plugins;
use tokio::sync::mpsc;

/// Messages the throughput run keeps in flight: what a client's window holds.
const IN_FLIGHT: usize = 256;
/// For QoS 0, what a client's queue holds: QoS 0 beyond it is dropped (by design, when the
/// callbacks are behind), which would measure drops instead of throughput.
const IN_FLIGHT_QOS0: usize = 64;

/// Sensors the readings come from, each on a topic of its own, unless a case says otherwise.
const SENSORS: u64 = 100;

/// Where messages come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Source {
    /// Publishes to the embedded broker at this QoS, the client subscribed at the same.
    Mqtt { qos: u8 },
    /// Produces to a one-partition topic of tansu.
    Kafka,
}

/// Which plugin (or its native twin) is the callback.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Work {
    /// Stores one object per message.
    Recorder,
    /// Publishes each message to another topic.
    Forwarder,
}

/// One configuration of the pipeline.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Case {
    pub source: Source,
    pub work: Work,
    pub wasm: bool,
    /// For a plugin: whether it keeps its instances between messages (`limits.reuse`).
    #[serde(default)]
    pub reuse: bool,
    /// For a plugin: the most queued messages of a lane it takes at once (`limits.batch`); 0
    /// or 1 for one at a time.
    #[serde(default)]
    pub batch: u32,
    /// Sensors publishing, each on a topic (a lane) of its own; 0 for [`SENSORS`]. With one,
    /// every message waits in one lane, where batches form.
    #[serde(default)]
    pub sensors: u64,
    /// Subscribers on the client, all matching every message.
    pub subscribers: usize,
    pub messages: usize,
    /// Seconds to run at half the measured throughput (a soak), sampling the resident
    /// memory; 0 for the usual three seconds of latency measurement.
    #[serde(default)]
    pub soak_seconds: u64,
}

/// What a run measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct Measured {
    /// Messages per second with a window of them in flight.
    pub throughput: f64,
    /// Messages of the burst that completed (QoS 0 may drop some).
    pub completed: usize,
    /// Latency from publish to durable completion at half the measured throughput.
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Process CPU time (user + system, all threads) per message of the burst.
    pub cpu_us_per_message: f64,
    /// The process's peak resident memory.
    pub peak_rss_mib: u64,
    /// Resident memory every 30 s of a soak, in MiB.
    #[serde(default)]
    pub rss_mib_every_30s: Vec<u64>,
    /// Where the burst's invocations spent their time, per invocation: each phase's name and
    /// its mean in microseconds (`switchyard_runtime::profile`).
    #[serde(default)]
    pub split: Vec<(String, f64)>,
}

impl Source {
    fn filter(self) -> &'static str {
        match self {
            Source::Mqtt { .. } => "bench/+/temperature",
            Source::Kafka => "bench-temperature",
        }
    }
}

/// Wraps the dispatcher so the bench learns when each message is done (its writes durable, so
/// it could be acknowledged) and how long it took from the publish.
struct Timed {
    dispatcher: Dispatcher,
    filter: &'static str,
    epoch: Instant,
    /// When each dispatched message that is not yet durable was sent, in nanoseconds since
    /// `epoch`.
    pending: std::sync::Mutex<Vec<u64>>,
    done: mpsc::UnboundedSender<Duration>,
}

impl Inbound for Timed {
    fn filters_for(&self, _tenant: &str, _client_id: &str) -> Vec<String> {
        vec![self.filter.into()]
    }

    fn dispatch(self: Arc<Self>, message: Incoming) -> BoxFuture<'static, Outcome> {
        let sent: Value = serde_json::from_slice(&message.payload).unwrap_or_default();
        let sent_ns = sent["sentNs"].as_u64().unwrap_or_default();
        let run = self.dispatcher.dispatch(message);
        Box::pin(async move {
            let outcome = run.await;
            self.pending.lock().unwrap().push(sent_ns);
            outcome
        })
    }

    fn durable(&self) -> BoxFuture<'_, Result<(), switchyard_store::Error>> {
        Box::pin(async move {
            let result = self.dispatcher.durable().await;
            let now = self.epoch.elapsed();
            for sent_ns in self.pending.lock().unwrap().drain(..) {
                let _ = self.done.send(now - Duration::from_nanos(sent_ns));
            }
            result
        })
    }
}

/// A running source: its broker and a way to send.
enum Feed {
    Mqtt {
        device: rumqttc::AsyncClient,
        qos: rumqttc::QoS,
    },
    Kafka {
        producer: FutureProducer,
        _broker: Tansu,
    },
}

impl Feed {
    /// A Switchyard for `source`: with the embedded MQTT broker, or with only the Kafka kind
    /// (and tansu, which the feed keeps).
    fn builder(source: Source, dir: &std::path::Path) -> anyhow::Result<(Builder, Option<Tansu>)> {
        let (builder, tansu) = Feed::source(source, dir)?;
        // As the server does: `SWITCHYARD_STORE` keeps the objects in PostgreSQL.
        Ok((builder.store(std::env::var("SWITCHYARD_STORE").ok()), tansu))
    }

    fn source(source: Source, dir: &std::path::Path) -> anyhow::Result<(Builder, Option<Tansu>)> {
        Ok(match source {
            Source::Mqtt { .. } => {
                let config = BrokerConfig {
                    listeners: Listeners {
                        tcp: Some(([127, 0, 0, 1], 0).into()),
                        ..Listeners::default()
                    },
                    ..BrokerConfig::default()
                };
                (Builder::new(dir).mqtt(config), None)
            }
            Source::Kafka => {
                let kafka: Box<dyn switchyard_broker::BrokerKind> =
                    Box::new(switchyard_kafka::Kafka);
                (
                    Builder::new(dir).brokers(vec![kafka]),
                    Some(Tansu::start()?),
                )
            }
        })
    }

    /// Connects a device (MQTT) or a producer (Kafka) to the broker of `source`.
    fn connect(
        source: Source,
        switchyard: &switchyard::Switchyard,
        tansu: Option<Tansu>,
    ) -> anyhow::Result<Feed> {
        Ok(match (source, tansu) {
            (Source::Mqtt { qos }, _) => {
                let broker = switchyard.mqtt.as_ref().and_then(|m| m.listeners().tcp);
                let addr = broker.context("the embedded broker listens")?;
                let mut options =
                    rumqttc::MqttOptions::new("bench-device", "127.0.0.1", addr.port());
                options.set_keep_alive(Duration::from_secs(30));
                let (device, mut eventloop) = rumqttc::AsyncClient::new(options, 1024);
                eventloop.network_options.set_tcp_nodelay(true);
                tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
                Feed::Mqtt {
                    device,
                    qos: rumqttc::qos(qos)?,
                }
            }
            (Source::Kafka, Some(broker)) => {
                let producer = rdkafka::ClientConfig::new()
                    .set("bootstrap.servers", &broker.addr)
                    .set("linger.ms", "0")
                    .create()?;
                Feed::Kafka {
                    producer,
                    _broker: broker,
                }
            }
            (Source::Kafka, None) => anyhow::bail!("Kafka needs tansu"),
        })
    }

    /// Creates the client object of this feed's broker; returns its id.
    fn client(&self, store: &Store, qos: u8) -> anyhow::Result<String> {
        let client = match self {
            Feed::Mqtt { .. } => store.create(
                switchyard_mqtt::MQTT_CLIENT,
                json!({"mainBrokerURL": "embedded", "qos": qos}),
            )?,
            Feed::Kafka { _broker, .. } => store.create(
                switchyard_kafka::KAFKA_CLIENT,
                json!({"servers": [_broker.addr], "groupId": "bench"}),
            )?,
        };
        Ok(switchyard_model::id_of(&client).to_owned())
    }

    /// Sends a reading of `sensor`: on MQTT to the sensor's own topic, as a fleet of devices
    /// would, so messages of different sensors can be processed side by side.
    async fn send(&self, sensor: &str, payload: String) -> anyhow::Result<()> {
        match self {
            Feed::Mqtt { device, qos, .. } => {
                let topic = format!("bench/{sensor}/temperature");
                Ok(device.publish(topic, *qos, false, payload).await?)
            }
            Feed::Kafka { producer, .. } => {
                let record = FutureRecord::<(), _>::to(Source::Kafka.filter()).payload(&payload);
                let sent = producer.send(record, Duration::from_secs(10)).await;
                sent.map(drop).map_err(|(e, _)| e.into())
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port()
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
        let listen = ["--listener-url", &url, "--advertised-listener-url", &url];
        let child = std::process::Command::new(&binary)
            .arg("broker")
            .args(listen)
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

/// CPU time (user + system, all threads) this process has used so far.
fn cpu_time() -> Duration {
    cpu_time_of("self")
}

/// CPU time (user + system, all threads) process `pid` (or `self`) has used so far.
pub fn cpu_time_of(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // Linux reports these in clock ticks of 1/100 s (USER_HZ).
    Duration::from_millis(ticks * 10)
}

/// A memory figure of this process from `/proc/self/status` (`VmRSS:`, `VmHWM:`), in MiB.
pub(crate) fn rss_mib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: u64 = (status.lines())
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_default();
    kib / 1024
}

/// Runs one case: a burst of `messages` for throughput and CPU, then latency at half the
/// throughput.
pub async fn measure(case: Case) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir()?;
    let (plugin, native): (_, Arc<dyn NativeCallback>) = match case.work {
        Work::Recorder => ("recorder", Arc::new(natives::Recorder)),
        Work::Forwarder => ("forwarder", Arc::new(natives::Forwarder)),
    };
    let (mut builder, tansu) = Feed::builder(case.source, dir.path())?;
    if !case.wasm {
        builder = builder.native(plugin, native);
    }
    let (done, mut completions) = mpsc::unbounded_channel();
    let epoch = Instant::now();
    let switchyard = builder.build_with(|dispatcher| {
        Arc::new(Timed {
            dispatcher: dispatcher.clone(),
            filter: case.source.filter(),
            epoch,
            pending: Default::default(),
            done,
        })
    })?;
    let feed = Feed::connect(case.source, &switchyard, tansu)?;
    let store = &switchyard.store;
    if case.wasm {
        let plugins = switchyard.dispatcher.callbacks().plugins();
        plugins.install(
            DEFAULT_TENANT,
            plugin,
            &std::fs::read(plugins::plugin(plugin))?,
        )?;
        let mut limits = serde_json::Map::new();
        if case.reuse {
            let reuse = json!({"messages": 1_000_000, "idleMs": 60_000});
            limits.insert("reuse".into(), reuse);
        }
        if case.batch > 1 {
            limits.insert("batch".into(), case.batch.into());
        }
        if !limits.is_empty() {
            let patch = switchyard_plugins::SettingsPatch {
                capabilities: None,
                limits: Some(limits),
            };
            plugins.configure(DEFAULT_TENANT, plugin, patch)?;
        }
    }
    let qos = match case.source {
        Source::Mqtt { qos } => qos,
        Source::Kafka => 0,
    };
    let client = feed.client(store, qos)?;
    let running = switchyard.start();
    for _ in 0..case.subscribers {
        let subscriber = json!({"topic": case.source.filter(), "callback": plugin,
                                "clients": [client], "threshold": 1e9, "forwardTo": "bench/out"});
        store.create("MessageSubscriber", subscriber)?;
    }
    store.update(&client, json!({"isEnabled": true}))?;

    let seq = AtomicU64::new(0);
    let sensors = if case.sensors == 0 {
        SENSORS
    } else {
        case.sensors
    };
    let publish = || {
        let n = seq.fetch_add(1, Ordering::Relaxed);
        let sensor = format!("s{}", n % sensors);
        let payload = json!({"sensorId": sensor, "value": 21.5,
                             "sentNs": epoch.elapsed().as_nanos() as u64});
        let feed = &feed;
        async move { feed.send(&sensor, payload.to_string()).await }
    };

    // Warm up until the client is connected and subscribed, and the callbacks compiled.
    loop {
        publish().await?;
        let next = completions.recv();
        if tokio::time::timeout(Duration::from_millis(200), next)
            .await
            .is_ok()
        {
            break;
        }
    }
    for _ in 0..200 {
        publish().await?;
        completions.recv().await;
    }
    while completions.try_recv().is_ok() {}

    // Throughput: a window of messages in flight; done when all completed, or when nothing
    // completed for a second (QoS 0 dropped some anyway).
    let in_flight = match case.source {
        Source::Mqtt { qos: 0 } => IN_FLIGHT_QOS0,
        _ => IN_FLIGHT,
    };
    let (start, cpu_start, profiled) = (Instant::now(), cpu_time(), profile::snapshot());
    let (mut sent, mut completed, mut last) = (0, 0, start);
    while completed < case.messages {
        while sent < case.messages && sent - completed < in_flight {
            publish().await?;
            sent += 1;
        }
        match tokio::time::timeout(Duration::from_secs(1), completions.recv()).await {
            Ok(Some(_)) => (completed, last) = (completed + 1, Instant::now()),
            _ => break,
        }
    }
    let cpu = cpu_time() - cpu_start;
    let invocations = (completed * case.subscribers) as u64;
    let split = (profile::snapshot()
        .since(&profiled, invocations)
        .into_iter())
    .map(|(phase, mean)| (phase.to_owned(), mean.as_secs_f64() * 1e6))
    .collect();
    let throughput = completed as f64 / last.duration_since(start).as_secs_f64();
    while completions.try_recv().is_ok() {}

    // Latency at half that load, paced per millisecond.
    let rate = (throughput / 2.0).max(100.0);
    let count = match case.soak_seconds {
        0 => (rate as usize * 3).min(case.messages),
        seconds => (rate * seconds as f64) as usize,
    };
    let mut latencies = Vec::with_capacity(count.min(1 << 20));
    let (paced, mut sent) = (Instant::now(), 0);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let mut rss = Vec::new();
    while sent < count {
        tick.tick().await;
        if paced.elapsed().as_secs() >= 30 * rss.len() as u64 {
            rss.push(rss_mib("VmRSS:"));
        }
        let due = ((paced.elapsed().as_secs_f64() * rate) as usize).min(count);
        for _ in sent..due {
            publish().await?;
        }
        sent = due.max(sent);
        while let Ok(latency) = completions.try_recv() {
            latencies.push(latency);
        }
    }
    while latencies.len() < count {
        match tokio::time::timeout(Duration::from_secs(1), completions.recv()).await {
            Ok(Some(latency)) => latencies.push(latency),
            _ => break,
        }
    }
    latencies.sort();
    let pick = |q: f64| {
        let i = ((latencies.len().max(1) - 1) as f64 * q) as usize;
        latencies.get(i).map_or(0, |d| d.as_micros() as u64)
    };
    let measured = Measured {
        throughput,
        completed,
        p50_us: pick(0.5),
        p99_us: pick(0.99),
        max_us: pick(1.0),
        cpu_us_per_message: cpu.as_secs_f64() * 1e6 / completed.max(1) as f64,
        peak_rss_mib: rss_mib("VmHWM:"),
        rss_mib_every_30s: rss,
        split,
    };
    running.stop().await?;
    Ok(measured)
}
