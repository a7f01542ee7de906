//! The load generator of `bench/peers.sh`: publishes QoS 1 messages to an input topic of an
//! MQTT broker and receives them on an output topic, where whatever is measured (the broker
//! alone, Node-RED, Switchyard) forwarded them. A Rust client, so the generator is not the
//! limit (a Python client tops out near 2,300 QoS 1 msg/s here).
//!
//! `switchyard-bench --load HOST:PORT IN OUT MESSAGES RATE [SECONDS]` prints one JSON line:
//! throughput with the publisher going as fast as the broker takes (QoS 1, 100 in flight), and
//! p50/p99 latency from publish to receipt at a fixed RATE for SECONDS (default 5; a soak runs
//! it for minutes). With `LOAD_CPU=name=PID,...` set, it also reports each named process's CPU
//! time per message over the throughput burst (`cpu_us_per_message`), from `/proc/PID/stat`.

use crate::pipeline::cpu_time_of;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A connected client and a channel of what it receives (payloads).
async fn client(
    name: &str,
    addr: &str,
    subscribe: Option<&str>,
) -> anyhow::Result<(AsyncClient, mpsc::UnboundedReceiver<Vec<u8>>)> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("HOST:PORT"))?;
    let mut options = MqttOptions::new(name, host, port.parse()?);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(100);
    let (client, mut events) = AsyncClient::new(options, 1024);
    events.network_options.set_tcp_nodelay(true);
    let (tx, rx) = mpsc::unbounded_channel();
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    let mut subscribed_tx = Some(subscribed_tx);
    // Ready once connected, or once subscribed where it subscribes.
    let subscribes = subscribe.is_some();
    tokio::spawn(async move {
        loop {
            let event = match events.poll().await {
                Ok(event) => event,
                Err(e) => {
                    eprintln!("load generator: the connection ended: {e}");
                    return;
                }
            };
            let ready = match event {
                Event::Incoming(Packet::Publish(publish)) => {
                    let _ = tx.send(publish.payload.to_vec());
                    false
                }
                Event::Incoming(Packet::SubAck(_)) => subscribes,
                Event::Incoming(Packet::ConnAck(_)) => !subscribes,
                _ => false,
            };
            if let Some(done) = subscribed_tx.take_if(|_| ready) {
                let _ = done.send(());
            }
        }
    });
    if let Some(topic) = subscribe {
        client.subscribe(topic, QoS::AtLeastOnce).await?;
    }
    tokio::time::timeout(Duration::from_secs(10), subscribed).await??;
    Ok((client, rx))
}

pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let (addr, input, output, messages, rate, seconds) = match args {
        [addr, input, output, messages, rate] => (addr, input, output, messages, rate, "5"),
        [addr, input, output, messages, rate, seconds] => {
            (addr, input, output, messages, rate, seconds.as_str())
        }
        _ => anyhow::bail!("usage: --load HOST:PORT IN OUT MESSAGES RATE [SECONDS]"),
    };
    let (messages, rate, seconds): (usize, f64, f64) =
        (messages.parse()?, rate.parse()?, seconds.parse()?);
    let (_receiver, mut received) = client("bench-load-out", addr, Some(output)).await?;
    let (publisher, _) = client("bench-load-in", addr, None).await?;
    let epoch = Instant::now();
    let payload =
        move |n: usize| json!({"n": n, "sentNs": epoch.elapsed().as_nanos() as u64}).to_string();
    let sent_ns = |bytes: &[u8]| {
        let value: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
        value["sentNs"].as_u64().unwrap_or_default()
    };

    // Whatever forwards may still be connecting: probe until a message comes through.
    let ready = Instant::now();
    loop {
        publisher
            .publish(input, QoS::AtLeastOnce, false, payload(0))
            .await?;
        if tokio::time::timeout(Duration::from_millis(200), received.recv())
            .await
            .is_ok()
        {
            break;
        }
        anyhow::ensure!(
            ready.elapsed() < Duration::from_secs(60),
            "nothing came through"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    while received.try_recv().is_ok() {}

    // Throughput: as fast as the broker takes QoS 1 publishes.
    let watched = watched()?;
    let cpu_before: Vec<Duration> = watched.iter().map(|(_, pid)| cpu_time_of(pid)).collect();
    let start = Instant::now();
    let sending = {
        let publisher = publisher.clone();
        let input = input.clone();
        tokio::spawn(async move {
            for n in 0..messages {
                publisher
                    .publish(&input, QoS::AtLeastOnce, false, payload(n))
                    .await?;
            }
            anyhow::Ok(())
        })
    };
    let mut count = 0;
    while count < messages {
        match tokio::time::timeout(Duration::from_secs(10), received.recv()).await {
            Ok(Some(_)) => count += 1,
            _ => break,
        }
    }
    let throughput = count as f64 / start.elapsed().as_secs_f64();
    let cpu: serde_json::Map<String, serde_json::Value> = (watched.iter().zip(cpu_before))
        .map(|((name, pid), before)| {
            let used = cpu_time_of(pid).saturating_sub(before);
            let per_message = used.as_secs_f64() * 1e6 / count.max(1) as f64;
            (name.clone(), json!(per_message))
        })
        .collect();
    sending.await??;
    while received.try_recv().is_ok() {}

    // Latency at a fixed rate, paced per millisecond.
    let total = (rate * seconds) as usize;
    let mut latencies = Vec::with_capacity(total);
    let (paced, mut sent) = (Instant::now(), 0);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    while sent < total {
        tick.tick().await;
        let due = ((paced.elapsed().as_secs_f64() * rate) as usize).min(total);
        for n in sent..due {
            publisher
                .publish(input, QoS::AtLeastOnce, false, payload(n))
                .await?;
        }
        sent = due.max(sent);
        while let Ok(bytes) = received.try_recv() {
            latencies.push(epoch.elapsed().as_nanos() as u64 - sent_ns(&bytes));
        }
    }
    while latencies.len() < total {
        match tokio::time::timeout(Duration::from_secs(5), received.recv()).await {
            Ok(Some(bytes)) => latencies.push(epoch.elapsed().as_nanos() as u64 - sent_ns(&bytes)),
            _ => break,
        }
    }
    latencies.sort();
    let pick = |q: f64| latencies.get(((latencies.len().max(1) - 1) as f64 * q) as usize);
    let ms = |ns: Option<&u64>| ns.map_or(f64::NAN, |ns| *ns as f64 / 1e6);
    let report = json!({
        "throughput": throughput, "received": count, "messages": messages,
        "p50_ms": ms(pick(0.5)), "p99_ms": ms(pick(0.99)), "latency_samples": latencies.len(),
        "cpu_us_per_message": cpu,
    });
    println!("{report}");
    Ok(())
}

/// The processes `LOAD_CPU` names (`name=PID,...`), each checked to exist.
fn watched() -> anyhow::Result<Vec<(String, String)>> {
    let list = std::env::var("LOAD_CPU").unwrap_or_default();
    (list.split(',').filter(|entry| !entry.is_empty()))
        .map(|entry| {
            let (name, pid) = (entry.split_once('='))
                .ok_or_else(|| anyhow::anyhow!("LOAD_CPU wants name=PID, not `{entry}`"))?;
            let stat = format!("/proc/{pid}/stat");
            anyhow::ensure!(
                std::path::Path::new(&stat).exists(),
                "no process {pid} ({name})"
            );
            Ok((name.to_owned(), pid.to_owned()))
        })
        .collect()
}
