//! A real Pulsar-protocol broker for the Pulsar tests: pulsar-lite 0.2.0 (installed by
//! `scripts/install-pulsar.sh`; RocksDB storage, so it keeps messages across its own restarts),
//! started once per test binary on a free port and stopped when the test process exits; a
//! producer and consumer through the `pulsar` crate that play the devices and the services
//! downstream; and the official Python client (`pulsar-client`) for interop. pulsar-lite stands
//! in for Apache Pulsar, which the registries do not carry: it speaks the same binary protocol,
//! but it is not Apache Pulsar.

use futures::StreamExt as _;
use pulsar::{Pulsar, TokioExecutor, producer};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

pub struct PulsarLite {
    /// `pulsar://127.0.0.1:<port>`, as a `PulsarClient`'s `servers` entry.
    pub url: String,
}

fn tools() -> PathBuf {
    crate::plugins::root().join(".tools")
}

fn binary() -> PathBuf {
    let path = tools().join("bin/pulsar-lite");
    assert!(
        path.exists(),
        "pulsar-lite is not installed: run scripts/install-pulsar.sh"
    );
    path
}

/// A working directory for one broker: its database, and a config that keeps its metrics
/// endpoint (port 8080 otherwise) off.
fn workdir() -> PathBuf {
    let dir = tempfile::tempdir()
        .expect("a directory for pulsar-lite")
        .keep();
    std::fs::write(dir.join("pulsar-lite.toml"), "[metrics]\nenabled = false\n")
        .expect("writing pulsar-lite.toml");
    dir
}

fn broker_args(addr: &str, dir: &Path) -> Vec<String> {
    let db = dir.join("db").display().to_string();
    ["--addr", addr, "--db-path", &db]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The test binary's broker, started on first use.
pub fn broker() -> &'static PulsarLite {
    static BROKER: OnceLock<PulsarLite> = OnceLock::new();
    BROKER.get_or_init(|| {
        let addr = format!("127.0.0.1:{}", crate::free_port());
        let dir = workdir();
        crate::spawn_for_test_binary(&binary(), &broker_args(&addr, &dir), &dir);
        crate::wait_listening(&addr, "pulsar-lite");
        PulsarLite {
            url: format!("pulsar://{addr}"),
        }
    })
}

/// A broker of one test's own, to kill (what it stored stays on disk) and start again on the
/// same port and storage; its URL is `pulsar://` and its `addr`.
pub fn own_broker() -> crate::OwnBroker {
    let addr = format!("127.0.0.1:{}", crate::free_port());
    let dir = workdir();
    let mut command = vec![binary().display().to_string()];
    command.extend(broker_args(&addr, &dir));
    crate::OwnBroker::start("pulsar-lite", addr, command, dir)
}

/// A `pulsar` crate client of `url`.
pub async fn client(url: &str) -> Pulsar<TokioExecutor> {
    Pulsar::builder(url, TokioExecutor)
        .build()
        .await
        .expect("connecting to pulsar-lite")
}

/// The full name of a topic given as `topic` or `tenant/namespace/topic` (pulsar-lite takes
/// only full names), as Switchyard names it.
pub fn full(topic: &str) -> String {
    switchyard_pulsar::topic::full_name(topic).expect("a Pulsar topic name")
}

/// Sends one message with an optional key and properties; panics unless the broker takes it.
pub async fn produce(
    client: &Pulsar<TokioExecutor>,
    topic: &str,
    key: Option<&str>,
    properties: &[(&str, &str)],
    payload: &str,
) {
    let message = producer::Message {
        payload: payload.as_bytes().to_vec(),
        partition_key: key.map(str::to_owned),
        properties: (properties.iter())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>(),
        ..producer::Message::default()
    };
    let receipt = client.send(full(topic), message).await;
    receipt
        .expect("queueing a Pulsar message")
        .await
        .expect("the broker took the Pulsar message");
}

/// The payloads a new subscription `subscription` of `topic` receives from the earliest
/// message until `count` arrived (or 30 s passed); each is acknowledged.
pub async fn receive(url: &str, topic: &str, subscription: &str, count: usize) -> Vec<String> {
    let client = client(url).await;
    let mut consumer: pulsar::Consumer<Vec<u8>, _> = client
        .consumer()
        .with_topic(full(topic))
        .with_subscription(subscription)
        .with_options(
            pulsar::ConsumerOptions::default()
                .with_initial_position(pulsar::consumer::InitialPosition::Earliest),
        )
        .build()
        .await
        .expect("subscribing to pulsar-lite");
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while received.len() < count {
        let message = tokio::time::timeout_at(deadline, consumer.next())
            .await
            .unwrap_or_else(|_| {
                panic!("only {} of {count} Pulsar messages arrived", received.len())
            })
            .expect("the consumer ended")
            .expect("consuming from pulsar-lite");
        consumer.ack(&message).await.expect("acknowledging");
        received.push(String::from_utf8_lossy(&message.payload.data).into_owned());
    }
    let _ = consumer.close().await;
    received
}

/// Runs `script` with the official Python client connected to `url` as `client` (its own log
/// on stderr) and `args` as `sys.argv[1:]`; returns what it printed, or panics with what it
/// said.
///
/// The script ends with `os._exit` once the client is closed: the client library's C++ side
/// sometimes aborts while the interpreter tears down ("terminate called without an active
/// exception", one run in four against pulsar-lite, with or without Switchyard running), after
/// everything the script did has been done and acknowledged.
pub fn python(url: &str, script: &str, args: &[&str]) -> String {
    let script = format!(
        "import sys, os, logging, pulsar\n\
         logging.basicConfig(level=logging.WARNING)\n\
         client = pulsar.Client(sys.argv[1], logger=logging.getLogger('pulsar'))\n\
         {script}\n\
         client.close()\n\
         sys.stdout.flush()\n\
         sys.stderr.flush()\n\
         os._exit(0)\n"
    );
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(url)
        .args(args)
        .env("PYTHONPATH", tools().join("pulsar-python"))
        .output()
        .expect("running python3");
    assert!(
        output.status.success(),
        "the Python Pulsar client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
