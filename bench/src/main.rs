//! Measures the pipeline a user runs: a publish to the embedded MQTT broker (or a produce to
//! tansu, a Kafka-protocol broker), through the client connection, the dispatcher and its
//! subscribers, to callbacks whose writes are committed and on disk before the message could be
//! acknowledged.
//!
//! Every case runs four times: with the callback as a plugin (WASM, a fresh instance per
//! message), as the plugin keeping its instances between messages (`limits.reuse`), as the
//! plugin taking up to [`BATCH`] queued messages of a lane at once (`limits.batch`), and as the
//! same work in native Rust registered through the same dispatcher path, so the ratios are
//! what the sandbox costs. Cases: QoS 0 and QoS 1, the `recorder` (stores one object)
//! and the `forwarder` (publishes only), 1 and 8 subscribers, and Kafka. MQTT readings come
//! from 100 sensors, each on a topic of its own, as from a fleet of devices. Reported per
//! case: throughput with a window of messages in flight (256; 64 for QoS 0, the client's
//! queue), p50/p99/max latency at half that throughput, CPU per message and peak RSS (each
//! case runs in a process of its own, so these are its own). Then
//! the per-invocation overhead of an empty handler, and how `find` grows with the number of
//! objects, scanned and through a secondary index (`-- --queries` runs only that).
//! `-- --split` prints where a WASM invocation's time goes, phase by phase (also part of a
//! full run). `-- --soak` runs the WASM recorder at half its throughput for ten minutes and samples the
//! resident memory every 30 s. Last, the resident memory of storing 2,000,000 objects
//! (`-- --store-memory` runs only that). `-- --scaling` runs 1, 2 and 3 instances on one
//! PostgreSQL consuming one Kafka topic (see [`scaling`]). `-- --mqttspec` measures Data over
//! MQTT's request round trips and notification latency (see [`mqttspec`]).
//!
//! Run: `cargo run --release -p switchyard-bench [-- MESSAGES]` (the Kafka cases need
//! `scripts/install-kafka.sh`). With `SWITCHYARD_STORE=postgres://...` set, the pipeline cases
//! keep their objects in that PostgreSQL database instead of the embedded store.

use switchyard_test_support::plugins;

mod invoke;
mod load;
mod mqttspec;
mod natives;
mod pipeline;
mod queries;
mod scaling;
mod storage;

use pipeline::{Case, Measured, Source, Work};

/// The `limits.batch` of the batched cases.
const BATCH: u32 = 64;

/// How a case runs its callback.
#[derive(Clone, Copy)]
enum Mode {
    Fresh,
    Reused,
    Batched,
    Native,
}

impl Mode {
    fn case(self, source: Source, work: Work, subscribers: usize, messages: usize) -> Case {
        Case {
            source,
            work,
            wasm: !matches!(self, Mode::Native),
            reuse: matches!(self, Mode::Reused),
            batch: if matches!(self, Mode::Batched) {
                BATCH
            } else {
                0
            },
            sensors: 0,
            subscribers,
            messages,
            soak_seconds: 0,
        }
    }
}

fn cases(messages: usize) -> Vec<Case> {
    let mqtt = [0, 1].into_iter().flat_map(|qos| {
        [Work::Forwarder, Work::Recorder]
            .into_iter()
            .flat_map(move |work| [1, 8].map(move |n| (Source::Mqtt { qos }, work, n)))
    });
    let kafka = [(Source::Kafka, Work::Recorder, 1)];
    let modes = [Mode::Reused, Mode::Batched, Mode::Fresh, Mode::Native];
    let spread = (mqtt.chain(kafka)).flat_map(|(source, work, subscribers)| {
        modes.map(|mode| mode.case(source, work, subscribers, messages))
    });
    // One sensor, so every message waits in one lane: where batches form.
    let one_lane = [Work::Forwarder, Work::Recorder]
        .into_iter()
        .flat_map(|work| {
            modes.map(|mode| Case {
                sensors: 1,
                ..mode.case(Source::Mqtt { qos: 1 }, work, 1, messages)
            })
        });
    spread.chain(one_lane).collect()
}

/// Runs one case in a child process (this binary with `--case`), for its own CPU and memory.
fn run_in_child(case: &Case) -> anyhow::Result<Measured> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .arg("--case")
        .arg(serde_json::to_string(case)?)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    anyhow::ensure!(output.status.success(), "case {case:?} failed");
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// Where the WASM forwarder's and recorder's invocations spend their time (MQTT QoS 1, one
/// subscriber), in fresh, reused and batched instances, each in a process of its own, beside
/// the process's CPU per message.
fn split(messages: usize) -> anyhow::Result<()> {
    let cases = [Mode::Fresh, Mode::Reused, Mode::Batched]
        .into_iter()
        .flat_map(|mode| [Work::Forwarder, Work::Recorder].map(|work| (mode, work)))
        .map(|(mode, work)| Case {
            // Batches form only where messages queue in one lane.
            sensors: if matches!(mode, Mode::Batched) { 1 } else { 0 },
            ..mode.case(Source::Mqtt { qos: 1 }, work, 1, messages)
        });
    let measured: Vec<Measured> = cases
        .map(|case| run_in_child(&case))
        .collect::<Result<_, _>>()?;
    println!(
        "\nWhere a WASM invocation's time goes (µs per message, wall time, MQTT QoS 1, \
         {messages} messages)\n| phase | forwarder | recorder | forwarder, reused | recorder, \
         reused | forwarder, batched, one topic | recorder, batched, one topic |\n|---|---|---|---|---|---|---|"
    );
    let mut phases: Vec<&str> = Vec::new();
    for (phase, _) in measured.iter().flat_map(|m| &m.split) {
        if !phases.contains(&phase.as_str()) {
            phases.push(phase);
        }
    }
    let mean = |m: &Measured, phase: &str| {
        (m.split.iter())
            .find(|(p, _)| p == phase)
            .map_or("".into(), |(_, us)| format!("{us:.1}"))
    };
    let row = |name: &str, cell: &dyn Fn(&Measured) -> String| {
        let cells: Vec<String> = measured.iter().map(cell).collect();
        println!("| {name} | {} |", cells.join(" | "));
    };
    for phase in phases {
        row(phase, &|m| mean(m, phase));
    }
    row("process CPU per message (all threads)", &|m| {
        format!("{:.1}", m.cpu_us_per_message)
    });
    Ok(())
}

fn label(case: &Case) -> String {
    let source = match case.source {
        Source::Mqtt { qos } => format!("MQTT QoS {qos}"),
        Source::Kafka => "Kafka".into(),
    };
    let work = match case.work {
        Work::Recorder => "recorder",
        Work::Forwarder => "forwarder",
    };
    let lanes = match case.sensors {
        1 => ", one topic",
        _ => "",
    };
    format!("{source:<10} {work:<9} x{}{lanes}", case.subscribers)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--load") {
        return load::run(&args[1..]).await;
    }
    if args.first().is_some_and(|a| a == "--soak") {
        // The WASM recorder on MQTT QoS 1 at half its throughput, for ten minutes.
        let case = Case {
            soak_seconds: 600,
            ..Mode::Fresh.case(Source::Mqtt { qos: 1 }, Work::Recorder, 1, 10_000)
        };
        let measured = run_in_child(&case)?;
        println!("{}", serde_json::to_string(&measured)?);
        return Ok(());
    }
    if args.first().is_some_and(|a| a == "--queries") {
        return queries::scaling();
    }
    if args.first().is_some_and(|a| a == "--scaling") {
        let messages = args.get(1).map(|n| n.parse()).transpose()?;
        return scaling::run(messages.unwrap_or(100_000)).await;
    }
    if args.first().is_some_and(|a| a == "--split") {
        let messages = args.get(1).map(|n| n.parse()).transpose()?;
        return split(messages.unwrap_or(20_000));
    }
    if args.first().is_some_and(|a| a == "--mqttspec") {
        let requests = args.get(1).map(|n| n.parse()).transpose()?;
        return mqttspec::run(requests.unwrap_or(10_000)).await;
    }
    if args.first().is_some_and(|a| a == "--store-memory") {
        return storage::memory().await;
    }
    if let [flag, case] = args.as_slice()
        && flag == "--case"
    {
        let measured = pipeline::measure(serde_json::from_str(case)?).await?;
        println!("{}", serde_json::to_string(&measured)?);
        return Ok(());
    }
    let messages: usize = args
        .first()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(10_000);
    // Build the plugins before the children need them.
    plugins::plugin("noop");
    println!("{messages} messages per case; latency at half the measured throughput");
    println!(
        "| case | callback | msg/s | wasm/native | p50 | p99 | max | CPU/msg | peak RSS |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    let mut native_throughput = 0.0;
    for case in cases(messages).iter().rev() {
        // Native first (reversed order), so each WASM row can show its ratio.
        let measured = run_in_child(case)?;
        let ratio = match case.wasm {
            true => format!("{:.2}x", measured.throughput / native_throughput),
            false => {
                native_throughput = measured.throughput;
                String::new()
            }
        };
        let lost = match measured.completed < messages {
            true => format!(" ({} of {messages} completed)", measured.completed),
            false => String::new(),
        };
        println!(
            "| {} | {} | {:.0}{lost} | {ratio} | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} µs | {} MiB |",
            label(case),
            match (case.wasm, case.reuse, case.batch > 1) {
                (true, true, _) => "wasm, reused",
                (true, false, true) => "wasm, batched",
                (true, false, false) => "wasm",
                (false, ..) => "native",
            },
            measured.throughput,
            measured.p50_us as f64 / 1e3,
            measured.p99_us as f64 / 1e3,
            measured.max_us as f64 / 1e3,
            measured.cpu_us_per_message,
            measured.peak_rss_mib,
        );
    }
    split(messages)?;
    let (p50, p99) = invoke::overhead(10_000).await?;
    println!("empty handler, instantiate + call + drop: p50 {p50:.1?}, p99 {p99:.1?}");
    queries::scaling()?;
    // In a process of its own, so its resident memory is only the store's.
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("--store-memory")
        .status()?;
    anyhow::ensure!(status.success(), "the store memory run failed");
    Ok(())
}
