//! How `find` grows with the number of objects of a type: a selective equality filter and a
//! narrow range, answered by scanning the type and through a secondary index, at 10,000,
//! 100,000 and 1,000,000 objects.

use serde_json::json;
use std::time::{Duration, Instant};
use switchyard_store::{Filter, Op, Query, Store};

const TYPE: &str = "Reading";

/// The p50 of `runs` runs of `query`, and how many objects it found.
fn time(store: &Store, query: &Query, runs: usize) -> anyhow::Result<(Duration, usize)> {
    let mut times = Vec::with_capacity(runs);
    let mut found = 0;
    for _ in 0..runs {
        let start = Instant::now();
        found = store.query(TYPE, query)?.result.len();
        times.push(start.elapsed());
    }
    times.sort();
    Ok((times[runs / 2], found))
}

/// Prints a row per size: equality and range, scanned and indexed.
pub fn scaling() -> anyhow::Result<()> {
    println!(
        "| objects | `serial = n` scanned | indexed | `n ≤ value < n+10` scanned | indexed |\n\
         |---|---|---|---|---|"
    );
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let mut stored = 0;
    for size in [10_000, 100_000, 1_000_000] {
        while stored < size {
            let mut txn = store.begin();
            for n in stored..stored + 10_000 {
                let reading = json!({"serial": n, "sensor": format!("s{}", n % 1000), "value": n});
                txn.create(TYPE, reading)?;
            }
            txn.commit()?;
            stored += 10_000;
        }
        let probe = size as u64 / 2;
        let filter = |column: &str, op, value| Filter {
            column: column.into(),
            op,
            value: json!(value),
        };
        let equal = Query {
            filters: vec![filter("serial", Op::Eq, probe)],
            limit: Some(100),
            ..Query::default()
        };
        let range = Query {
            filters: vec![
                filter("value", Op::Gte, probe),
                filter("value", Op::Lt, probe + 10),
            ],
            limit: Some(100),
            ..Query::default()
        };
        let scanned = (time(&store, &equal, 3)?, time(&store, &range, 3)?);
        store.drop_index(TYPE, "serial")?;
        store.drop_index(TYPE, "value")?;
        store.create_index(TYPE, "serial")?;
        store.create_index(TYPE, "value")?;
        let indexed = (time(&store, &equal, 101)?, time(&store, &range, 101)?);
        anyhow::ensure!(
            scanned.0.1 == 1 && indexed.0.1 == 1,
            "one object per serial"
        );
        anyhow::ensure!(scanned.1.1 == 10 && indexed.1.1 == 10, "ten in the range");
        // Queries scan without the indexes again for the next size.
        store.drop_index(TYPE, "serial")?;
        store.drop_index(TYPE, "value")?;
        println!(
            "| {size} | {:.1?} | {:.1?} | {:.1?} | {:.1?} |",
            scanned.0.0, indexed.0.0, scanned.1.0, indexed.1.0
        );
    }
    Ok(())
}
