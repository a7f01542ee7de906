//! A real Kafka-protocol broker for the Kafka tests: tansu 0.6 with in-memory storage (installed
//! by `scripts/install-kafka.sh`), started once per test binary on a free port and stopped when
//! the test process exits, plus an rdkafka producer and consumer that play the devices and the
//! services downstream. Tansu stands in for Apache Kafka, which the registries do not carry.

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub struct Tansu {
    /// `127.0.0.1:<port>`, as a `KafkaClient`'s `servers` entry.
    pub addr: String,
}

fn binary() -> PathBuf {
    let path = crate::plugins::root().join(".tools/bin/tansu");
    assert!(
        path.exists(),
        "tansu is not installed: run scripts/install-kafka.sh"
    );
    path
}

/// The test binary's broker, started on first use.
pub fn broker() -> &'static Tansu {
    static TANSU: OnceLock<Tansu> = OnceLock::new();
    TANSU.get_or_init(|| {
        let addr = format!("127.0.0.1:{}", crate::free_port());
        crate::spawn_for_test_binary(&binary(), &broker_args(&addr), Path::new("."));
        crate::wait_listening(&addr, "tansu");
        Tansu { addr }
    })
}

fn broker_args(addr: &str) -> Vec<String> {
    let url = format!("tcp://{addr}");
    [
        "broker",
        "--listener-url",
        &url,
        "--advertised-listener-url",
        &url,
    ]
    .into_iter()
    .chain(["--storage-engine", "memory://tansu/"])
    .map(str::to_owned)
    .collect()
}

/// A broker of one test's own, to kill (it loses everything: its storage is in memory) and
/// start again on the same port.
pub fn own_broker() -> crate::OwnBroker {
    let addr = format!("127.0.0.1:{}", crate::free_port());
    let mut command = vec![binary().display().to_string()];
    command.extend(broker_args(&addr));
    crate::OwnBroker::start("tansu", addr, command, PathBuf::from("."))
}

impl Tansu {
    /// Creates a topic with this many partitions (tansu does not create topics on use).
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let status = Command::new(binary())
            .args([
                "topic",
                "create",
                name,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://{}", self.addr)])
            .stdout(Stdio::null())
            .status()
            .expect("running tansu topic create");
        assert!(status.success(), "creating topic {name} failed");
    }

    pub fn producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .set("message.timeout.ms", "10000")
            .create()
            .expect("a Kafka producer")
    }

    /// Produces messages `0..count` to `topic`, `per_second` of them a second, each with the
    /// payload `message(i)`; resolves to the numbers the broker acknowledged.
    pub fn stream(
        &self,
        topic: &str,
        count: u64,
        per_second: u64,
        message: impl Fn(u64) -> String + Send + 'static,
    ) -> tokio::task::JoinHandle<BTreeSet<u64>> {
        let (producer, topic) = (self.producer(), topic.to_owned());
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut deliveries = Vec::new();
            for i in 0..count {
                let due = start + Duration::from_micros(i * 1_000_000 / per_second);
                tokio::time::sleep_until(due).await;
                let payload = message(i);
                let record = FutureRecord::<(), _>::to(&topic).payload(&payload);
                // Queued at once; acknowledged (or not) by the broker later.
                let delivery = producer.send_result(record).map_err(|(e, _)| e);
                deliveries.push((i, delivery.expect("queuing a Kafka message")));
            }
            let mut acked = BTreeSet::new();
            for (i, delivery) in deliveries {
                if let Ok(Ok(_)) = delivery.await {
                    acked.insert(i);
                }
            }
            acked
        })
    }

    /// A consumer in `group` of `topics`, from the earliest offset.
    pub fn consumer(&self, group: &str, topics: &[&str]) -> StreamConsumer {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.addr)
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            .create()
            .expect("a Kafka consumer");
        consumer.subscribe(topics).expect("subscribing");
        consumer
    }
}

/// Produces one message with an optional key and headers; panics unless the broker takes it.
pub async fn produce(
    producer: &FutureProducer,
    topic: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    payload: &str,
) {
    let mut owned = OwnedHeaders::new();
    for (key, value) in headers {
        owned = owned.insert(Header {
            key,
            value: Some(*value),
        });
    }
    let mut record = FutureRecord::to(topic).payload(payload).headers(owned);
    if let Some(key) = key {
        record = record.key(key);
    }
    let sent = producer.send(record, Duration::from_secs(10)).await;
    sent.map_err(|(e, _)| e).expect("producing to Kafka");
}

/// The payloads `consumer` receives until `count` arrived (or 30 s passed).
pub async fn receive(consumer: &StreamConsumer, count: usize) -> Vec<String> {
    use rdkafka::Message;
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while received.len() < count {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} Kafka messages arrived", received.len()))
            .expect("consuming from Kafka");
        received.push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned());
    }
    received
}
