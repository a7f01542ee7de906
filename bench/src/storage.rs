//! What storing objects costs in resident memory: the store's engine keeps a page cache of a
//! configured size (`--store-cache-mb`, 64 MiB by default), and the process should stay within
//! it whatever the number of objects. Stores 2,000,000 readings through grouped commits, as
//! callbacks write them, then reads 1,000,000 of them back at random, sampling the resident
//! memory as it goes.

use serde_json::json;
use std::time::Instant;
use switchyard_store::Store;

/// Objects per write set, and write sets committing at once (as concurrent callbacks do).
const SET: usize = 64;
const WRITERS: usize = 8;
const OBJECTS: usize = 2_000_000;
const READS: usize = 1_000_000;

/// Prints the resident memory every 250,000 objects and after the reads, and how much it grew
/// per million objects stored.
pub async fn memory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), switchyard::client_kinds())?;
    let start = Instant::now();
    println!("| objects stored | resident memory | elapsed |\n|---|---|---|");
    let mut samples = vec![(0, crate::pipeline::rss_mib("VmRSS:"))];
    println!("| 0 | {} MiB | 0 s |", samples[0].1);
    let mut ids = Vec::with_capacity(OBJECTS / 100);
    let mut stored = 0;
    while stored < OBJECTS {
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let store = store.clone();
            let first = stored + writer * SET;
            writers.push(tokio::spawn(async move {
                let mut txn = store.begin();
                let mut id = String::new();
                for n in first..first + SET {
                    let reading = json!({"sensorId": format!("s{}", n % 1000), "value": n % 400,
                                         "topic": format!("sensors/s{}/temperature", n % 1000)});
                    id = switchyard_model::id_of(&txn.create("TemperatureReading", reading)?)
                        .to_owned();
                }
                txn.commit_grouped().await?;
                anyhow::Ok(id)
            }));
        }
        for writer in writers {
            ids.push(writer.await??);
        }
        store.sync().await?;
        stored += WRITERS * SET;
        if stored % 250_000 < WRITERS * SET {
            let rss = crate::pipeline::rss_mib("VmRSS:");
            samples.push((stored, rss));
            println!("| {stored} | {rss} MiB | {:.0?} |", start.elapsed());
        }
    }
    let mut seed = 1u64;
    for read in 1..=READS {
        // A small linear congruential generator: reproducible, and no dependency for it.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let id = &ids[(seed >> 33) as usize % ids.len()];
        anyhow::ensure!(store.get(id)?.is_some(), "a stored reading is missing");
        if read % 250_000 == 0 {
            let rss = crate::pipeline::rss_mib("VmRSS:");
            println!(
                "| {stored}, then {read} random reads | {rss} MiB | {:.0?} |",
                start.elapsed()
            );
        }
    }
    let half = samples
        .iter()
        .find(|(n, _)| *n >= OBJECTS / 2)
        .map_or(0, |s| s.1);
    let last = samples.last().map_or(0, |s| s.1);
    let per_million = (last as f64 - half as f64) / ((OBJECTS / 2) as f64 / 1e6);
    println!(
        "resident memory per million objects stored (from 1 to 2 million): {per_million:.1} MiB"
    );
    Ok(())
}
