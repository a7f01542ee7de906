//! Secondary indexes answer exactly what a scan answers: the same objects for every filter
//! they narrow, while objects are created, changed and deleted, inside and outside a write
//! set, and after the index is declared over objects already stored.

use super::open;
use crate::id;
use serde_json::{Value, json};
use switchyard_store::{Filter, Op, Query, Store};

/// Objects with a spread of values for `v`: numbers, strings, booleans, null, missing,
/// nested.
fn value(n: u64) -> Value {
    match n % 9 {
        0 => json!(n % 17),
        1 => json!(n as f64 / 4.0 - 3.0),
        2 => json!(format!("s{}", n % 13)),
        3 => json!(n.is_multiple_of(2)),
        4 => Value::Null,
        5 => json!([n % 3]),
        6 => json!(-(n as i64 % 5)),
        7 => json!(format!("s{}\u{0}x", n % 4)),
        _ => json!(n % 17),
    }
}

fn fill(store: &Store, from: u64, to: u64) {
    for n in from..to {
        let mut object = json!({"n": n});
        if n % 11 != 10 {
            object["v"] = value(n);
        }
        store.create("Thing", object).unwrap();
    }
}

fn queries() -> Vec<Query> {
    let mut queries = Vec::new();
    let probes = [
        json!(3),
        json!(3.5),
        json!(-2),
        json!("s5"),
        json!("s1\u{0}x"),
        json!(true),
        json!(null),
        json!([1]),
        json!(0),
    ];
    for value in probes {
        for op in [Op::Eq, Op::Gt, Op::Gte, Op::Lt, Op::Lte, Op::Neq] {
            let filter = Filter {
                column: "v".into(),
                op,
                value: value.clone(),
            };
            queries.push(Query {
                filters: vec![filter],
                ..Query::default()
            });
        }
    }
    let any = Filter {
        column: "v".into(),
        op: Op::In,
        value: json!(["3", 3, "s2", null]),
    };
    queries.push(Query {
        filters: vec![any],
        ..Query::default()
    });
    let text = Query::from_params([("v", "4")]).unwrap();
    queries.push(text);
    let between = |op1, low: Value, op2, high: Value| {
        let filters = vec![
            Filter {
                column: "v".into(),
                op: op1,
                value: low,
            },
            Filter {
                column: "n".into(),
                op: Op::Gte,
                value: json!(5),
            },
            Filter {
                column: "v".into(),
                op: op2,
                value: high,
            },
        ];
        Query {
            filters,
            ..Query::default()
        }
    };
    queries.push(between(Op::Gte, json!(-2), Op::Lt, json!(4)));
    queries.push(between(Op::Gt, json!(5), Op::Lt, json!(2)));
    queries.push(between(Op::Gte, json!("s1"), Op::Lte, json!("s3")));
    queries.push(between(Op::Gte, json!(1), Op::Lte, json!("s3")));
    queries
}

fn ns(store: &Store, query: &Query) -> Vec<u64> {
    let page = store.query("Thing", query).unwrap();
    let mut ns: Vec<u64> = page
        .result
        .iter()
        .map(|o| o["n"].as_u64().unwrap())
        .collect();
    ns.sort();
    ns
}

/// Runs every query on the indexed store and on the plain one, which must agree.
fn agree(indexed: &Store, plain: &Store) {
    for query in queries() {
        assert_eq!(ns(indexed, &query), ns(plain, &query), "{query:?}");
    }
}

#[test]
fn indexed_queries_answer_what_a_scan_answers() {
    let (_a, indexed) = open();
    let (_b, plain) = open();
    fill(&indexed, 0, 300);
    fill(&plain, 0, 300);
    assert_eq!(indexed.create_index("Thing", "v").unwrap(), Some(300));
    assert_eq!(
        indexed.create_index("Thing", "v").unwrap(),
        None,
        "declared once"
    );
    assert_eq!(indexed.indexes(), [("Thing".to_owned(), "v".to_owned())]);
    agree(&indexed, &plain);

    // Kept up to date by later writes: creates, updates that move a value, deletes.
    fill(&indexed, 300, 400);
    fill(&plain, 300, 400);
    for store in [&indexed, &plain] {
        let page = store.query("Thing", &Query::default()).unwrap();
        for object in page
            .result
            .iter()
            .filter(|o| o["n"].as_u64().unwrap() % 7 == 0)
        {
            let n = object["n"].as_u64().unwrap();
            match n % 2 {
                0 => drop(
                    store
                        .update(id(object), json!({"v": value(n + 1)}))
                        .unwrap(),
                ),
                _ => drop(store.delete(id(object)).unwrap()),
            }
        }
    }
    agree(&indexed, &plain);

    // A write set sees its own writes through the index too.
    let mut txn = indexed.begin();
    let created = txn.create("Thing", json!({"n": 1000, "v": "s5"})).unwrap();
    let first = indexed
        .query("Thing", &Query::from_params([("v", "s2")]).unwrap())
        .unwrap();
    let moved = id(&first.result[0]).to_owned();
    txn.update(&moved, json!({"v": "s5"})).unwrap();
    let s5 = Query::from_params([("v", "s5")]).unwrap();
    let seen: Vec<String> = txn
        .query("Thing", &s5)
        .unwrap()
        .result
        .iter()
        .map(|o| id(o).to_owned())
        .collect();
    assert!(
        seen.contains(&id(&created).to_owned()) && seen.contains(&moved),
        "{seen:?}"
    );
    let s2 = Query::from_params([("v", "s2")]).unwrap();
    let left = txn.query("Thing", &s2).unwrap();
    assert!(
        left.result.iter().all(|o| id(o) != moved),
        "the moved object left s2"
    );

    // Secrets read as missing, so they are not indexed by their stored value.
    let secret = indexed.create_index(crate::TEST_CLIENT, "password").unwrap_err();
    assert!(secret.to_string().contains("is a secret"), "{secret}");

    assert!(indexed.drop_index("Thing", "v").unwrap());
    assert!(indexed.indexes().is_empty());
    agree(&indexed, &plain);
}

/// The objects' `n`s in the order a query returned them.
fn ordered_ns(store: &Store, query: &Query) -> Vec<u64> {
    let page = store.query("Thing", query).unwrap();
    (page.result.iter())
        .map(|o| o["n"].as_u64().unwrap())
        .collect()
}

/// Pages sorted by an indexed property are read in index order; they must be exactly the
/// pages of the fully sorted answer: ascending and descending, with ties in creation order,
/// missing and `null` last, offsets, filters on other properties, and `total`.
#[test]
fn sorted_pages_read_from_an_index_match_the_fully_sorted_answer() {
    let (_database, store) = open();
    let sortable = |n: u64| match n % 7 {
        0 => json!(n % 5),
        1 => json!(n as f64 / 8.0 - 2.0),
        2 => json!(format!("s{}", n % 6)),
        3 => json!(n.is_multiple_of(3)),
        4 => Value::Null,
        5 => json!(format!("s{}\u{0}x", n % 2)),
        _ => json!(-(n as i64 % 4)),
    };
    for n in 0..240 {
        let mut object = json!({"n": n});
        if n % 10 != 9 {
            object["v"] = sortable(n);
        }
        store.create("Thing", object).unwrap();
    }
    store.create_index("Thing", "v").unwrap();
    let odd = Filter {
        column: "n".into(),
        op: Op::In,
        value: json!((0..240).filter(|n| n % 2 == 1).collect::<Vec<_>>()),
    };
    let check = |store: &Store| {
        for order in [switchyard_store::Order::Asc, switchyard_store::Order::Desc] {
            for filters in [vec![], vec![odd.clone()]] {
                let all = Query {
                    filters: filters.clone(),
                    sort: Some("v".into()),
                    order,
                    ..Query::default()
                };
                let everything = ordered_ns(store, &all);
                for (offset, limit) in [(0, 1), (0, 10), (7, 25), (100, 50), (230, 30)] {
                    let page = Query {
                        offset,
                        limit: Some(limit),
                        ..all.clone()
                    };
                    let expected: Vec<u64> = everything
                        .iter()
                        .skip(offset)
                        .take(limit)
                        .copied()
                        .collect();
                    assert_eq!(ordered_ns(store, &page), expected, "{page:?}");
                }
            }
        }
        let counted = Query {
            sort: Some("v".into()),
            limit: Some(5),
            total: true,
            ..Query::default()
        };
        let count = store
            .query("Thing", &Query::default())
            .unwrap()
            .result
            .len();
        assert_eq!(store.query("Thing", &counted).unwrap().total, count);
    };
    check(&store);
    // An array value has no order in the index: the same answers, read the usual way.
    store.create("Thing", json!({"n": 500, "v": [1]})).unwrap();
    check(&store);
}
