//! Scaling out: 1, 2 and 3 `switchyard serve` processes on one PostgreSQL, one Kafka client
//! whose consumer group splits a 6-partition topic of tansu between them, and the `recorder`
//! plugin storing each message, durably, before its offset is committed. Each run has a
//! database and a topic of its own, filled before the client is enabled. The rate is taken
//! between the 10th and the 90th percentile of the records, so the group's joining and the
//! last partition's tail are left out; the whole run's time is printed beside it.
//!
//! Run: `cargo build --release -p switchyard -p switchyard-bench && target/release/switchyard-bench
//! --scaling [MESSAGES]`: the servers are the release `switchyard` beside the bench, on a
//! PostgreSQL cluster of the bench's own (`scripts/install-postgres.sh`).

use serde_json::json;
use std::time::{Duration, Instant};
use switchyard_test_support::{self as support, Options, Server, plugins};

pub async fn run(messages: u64) -> anyhow::Result<()> {
    let kafka = support::kafka::broker();
    let recorder = plugins::plugin("recorder");
    println!(
        "{messages} messages, 6 partitions, recorder on PostgreSQL\n\
         | instances | msg/s (10th to 90th percentile) | whole run |\n|---|---|---|"
    );
    for instances in 1..=3 {
        let topic = format!("scaling-{instances}-{}", support::free_port());
        kafka.create_topic(&topic, 6);
        // Below the recorder's alert threshold: every message is one record and nothing more.
        let reading =
            |i: u64| json!({"sensorId": format!("s{}", i % 100), "value": i % 25}).to_string();
        let acked = kafka.stream(&topic, messages, 1_000_000, reading).await?;
        anyhow::ensure!(acked.len() as u64 == messages, "tansu took every message");

        let url = support::postgres::database();
        let dir = tempfile::tempdir()?;
        let options = || Options {
            env: vec![("SWITCHYARD_STORE", url.clone())],
            ..Options::default()
        };
        let homes: Vec<_> = (0..instances)
            .map(|n| dir.path().join(n.to_string()))
            .collect();
        homes.iter().try_for_each(std::fs::create_dir_all)?;
        let first = Server::start_with(&homes[0], options()).await;
        first.upload("recorder", &recorder).await;
        let client = json!({"servers": [kafka.addr], "groupId": topic, "isEnabled": false});
        let client = first.create("KafkaClient", client).await;
        let id = client["id"].as_str().unwrap_or_default().to_owned();
        first.subscriber(&topic, "recorder", &id, json!({})).await;
        // The others start with the plugin there, compiled before they serve.
        let mut servers = vec![first];
        for home in &homes[1..] {
            servers.push(Server::start_with(home, options()).await);
        }
        let path = format!("/api/objects/KafkaClient/{id}");
        let (status, body) = servers[0].patch(&path, json!({"isEnabled": true})).await;
        anyhow::ensure!(status.is_success(), "enabling the client: {body}");

        let start = Instant::now();
        let (mut tenth, mut ninetieth) = (None, None);
        loop {
            let sql = "SELECT count(*) FROM objects WHERE type = 'TemperatureReading'";
            let recorded: u64 = support::postgres::query(&url, sql).trim().parse()?;
            let at = start.elapsed();
            if recorded * 10 >= messages {
                tenth.get_or_insert((recorded, at));
            }
            if recorded * 10 >= messages * 9 {
                ninetieth.get_or_insert((recorded, at));
            }
            if recorded >= messages {
                break;
            }
            if at > Duration::from_secs(300) {
                for server in &servers {
                    eprintln!("{}", server.logs());
                }
                anyhow::bail!("only {recorded} of {messages} recorded after {at:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let whole = start.elapsed();
        let ((from, at_from), (to, at_to)) =
            (tenth.unwrap_or_default(), ninetieth.unwrap_or_default());
        let rate = (to - from) as f64 / (at_to - at_from).as_secs_f64().max(1e-3);
        println!("| {instances} | {rate:.0} | {whole:.1?} |");
    }
    Ok(())
}
