//! How `find` grows with the number of objects of a type: a selective equality filter, a
//! narrow range and a sorted page (the ten highest values), answered by scanning the type and
//! through a secondary index, at 10,000, 100,000 and 1,000,000 objects, in the embedded store
//! or, with `SWITCHYARD_STORE=postgres://...`, in PostgreSQL.

use serde_json::json;
use std::time::{Duration, Instant};
use switchyard_store::{Filter, Op, Order, Query, Store};

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

/// Prints a row per size: equality, range and sorted page, scanned and indexed.
pub fn scaling() -> anyhow::Result<()> {
    println!(
        "| objects | `serial = n` scanned | indexed | `n ≤ value < n+10` scanned | indexed \
         | top 10 by `value` scanned | indexed |\n|---|---|---|---|---|---|---|"
    );
    let dir = tempfile::tempdir()?;
    // As the server does: `SWITCHYARD_STORE` keeps the objects in PostgreSQL.
    let store = match std::env::var("SWITCHYARD_STORE") {
        Ok(url) if !url.is_empty() => Store::open_postgres(&url, dir.path(), Default::default())?,
        _ => Store::open(dir.path(), Default::default())?,
    };
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
        // Each query with the number of objects it must find.
        let queries = [
            (
                Query {
                    filters: vec![filter("serial", Op::Eq, probe)],
                    limit: Some(100),
                    ..Query::default()
                },
                1,
            ),
            (
                Query {
                    filters: vec![
                        filter("value", Op::Gte, probe),
                        filter("value", Op::Lt, probe + 10),
                    ],
                    limit: Some(100),
                    ..Query::default()
                },
                10,
            ),
            (
                Query {
                    sort: Some("value".into()),
                    order: Order::Desc,
                    limit: Some(10),
                    ..Query::default()
                },
                10,
            ),
        ];
        let mut scanned = Vec::new();
        for (query, expected) in &queries {
            let (took, found) = time(&store, query, 3)?;
            anyhow::ensure!(found == *expected, "{query:?} found {found} when scanning");
            scanned.push(took);
        }
        store.create_index(TYPE, "serial")?;
        store.create_index(TYPE, "value")?;
        let mut row = format!("| {size} |");
        for ((query, expected), scanned) in queries.iter().zip(scanned) {
            let (indexed, found) = time(&store, query, 101)?;
            anyhow::ensure!(
                found == *expected,
                "{query:?} found {found} through the index"
            );
            row += &format!(" {scanned:.1?} | {indexed:.1?} |");
        }
        // Queries scan without the indexes again for the next size.
        store.drop_index(TYPE, "serial")?;
        store.drop_index(TYPE, "value")?;
        println!("{row}");
    }
    Ok(())
}
