//! Query parsing (JSON and query-string shapes), every operator, sort and paging.

use super::open;
use serde_json::{Value, json};
use switchyard_store::{Error, Filter, Op, Order, Query, Store};

/// Readings in creation order; `r5` has no `value`, `r4` has a string one.
fn readings() -> (impl Sized, Store) {
    let (database, store) = open();
    for reading in [
        json!({"name": "r1", "value": 21.5, "sensor": "t1", "tags": ["a", "b"], "ok": true}),
        json!({"name": "r2", "value": 10, "sensor": "t2", "tags": ["b"], "ok": false}),
        json!({"name": "r3", "value": 2, "sensor": "kitchen-t1", "tags": []}),
        json!({"name": "r4", "value": "high", "sensor": "t1"}),
        json!({"name": "r5", "sensor": "t3"}),
    ] {
        store.create("Reading", reading).unwrap();
    }
    store
        .create("Other", json!({"name": "o1", "value": 21.5}))
        .unwrap();
    (database, store)
}

fn names(store: &Store, query: &Query) -> Vec<String> {
    let page = store.query("Reading", query).unwrap();
    page.result
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect()
}

fn filter(column: &str, op: Op, value: Value) -> Query {
    Query {
        filters: vec![Filter {
            column: column.into(),
            op,
            value,
        }],
        ..Query::default()
    }
}

fn bad_query(json: Value) -> String {
    match Query::from_json(&json) {
        Err(Error::BadQuery(message)) => message,
        other => panic!("{json}: expected BadQuery, got {other:?}"),
    }
}

#[test]
fn listing_a_type_returns_its_objects_in_creation_order() {
    let (_dir, store) = readings();
    assert_eq!(
        names(&store, &Query::default()),
        ["r1", "r2", "r3", "r4", "r5"]
    );
    assert_eq!(store.query("Nothing", &Query::default()).unwrap().total, 0);
    assert!(matches!(
        store.query("bad-type", &Query::default()),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn eq_and_neq_compare_numbers_by_value() {
    let (_dir, store) = readings();
    assert_eq!(names(&store, &filter("value", Op::Eq, json!(10.0))), ["r2"]);
    assert_eq!(
        names(&store, &filter("sensor", Op::Eq, json!("t1"))),
        ["r1", "r4"]
    );
    assert_eq!(
        names(&store, &filter("value", Op::Eq, json!("21.5"))),
        Vec::<String>::new()
    );
    assert_eq!(names(&store, &filter("value", Op::Eq, Value::Null)), ["r5"]);
    assert_eq!(
        names(&store, &filter("sensor", Op::Neq, json!("t1"))),
        ["r2", "r3", "r5"]
    );
}

#[test]
fn ordering_operators_compare_like_kinds_only() {
    let (_dir, store) = readings();
    assert_eq!(names(&store, &filter("value", Op::Gt, json!(10))), ["r1"]);
    assert_eq!(
        names(&store, &filter("value", Op::Gte, json!(10))),
        ["r1", "r2"]
    );
    assert_eq!(names(&store, &filter("value", Op::Lt, json!(10))), ["r3"]);
    assert_eq!(
        names(&store, &filter("value", Op::Lte, json!(10))),
        ["r2", "r3"]
    );
    // Strings compare lexicographically, and never against numbers.
    assert_eq!(names(&store, &filter("value", Op::Gt, json!("a"))), ["r4"]);
    assert_eq!(
        names(&store, &filter("sensor", Op::Gte, json!("t2"))),
        ["r2", "r5"]
    );
    assert_eq!(
        names(&store, &filter("sensor", Op::Lt, json!("t1"))),
        ["r3"]
    );
    assert_eq!(
        names(&store, &filter("ok", Op::Gt, json!(false))),
        Vec::<String>::new()
    );
}

#[test]
fn contains_looks_into_strings_and_lists() {
    let (_dir, store) = readings();
    assert_eq!(
        names(&store, &filter("sensor", Op::Contains, json!("t1"))),
        ["r1", "r3", "r4"]
    );
    assert_eq!(
        names(&store, &filter("tags", Op::Contains, json!("b"))),
        ["r1", "r2"]
    );
    assert_eq!(
        names(&store, &filter("value", Op::Contains, json!(1))),
        Vec::<String>::new()
    );
}

#[test]
fn in_matches_any_listed_value() {
    let (_dir, store) = readings();
    assert_eq!(
        names(&store, &filter("sensor", Op::In, json!(["t2", "t3"]))),
        ["r2", "r5"]
    );
    assert_eq!(
        names(&store, &filter("value", Op::In, json!([2, "high"]))),
        ["r3", "r4"]
    );
}

#[test]
fn like_matches_whole_text_with_percent_and_underscore() {
    let (_dir, store) = readings();
    let like = |op, pattern: &str| names(&store, &filter("sensor", op, json!(pattern)));
    assert_eq!(like(Op::Like, "t_"), ["r1", "r2", "r4", "r5"]);
    assert_eq!(like(Op::Like, "%t1"), ["r1", "r3", "r4"]);
    assert_eq!(like(Op::Like, "k%n%1"), ["r3"]);
    assert_eq!(like(Op::Like, "T1"), Vec::<String>::new());
    assert_eq!(like(Op::Ilike, "T1"), ["r1", "r4"]);
    assert_eq!(like(Op::Ilike, "KITCHEN%"), ["r3"]);
    // Not text: never matched.
    assert_eq!(
        names(&store, &filter("value", Op::Like, json!("%"))),
        ["r4"]
    );
    let message = bad_query(json!({"filters": [{"column": "sensor", "operator": "like", "value": 1}]}));
    assert!(message.contains("must be text"), "{message}");
}

#[test]
fn filters_combine_with_and() {
    let (_dir, store) = readings();
    let query = Query::from_json(&json!({"filters": [
        {"column": "sensor", "operator": "contains", "value": "t1"},
        {"column": "value", "operator": "gte", "value": 2},
    ]}))
    .unwrap();
    assert_eq!(names(&store, &query), ["r1", "r3"]);
}

#[test]
fn sort_orders_numbers_numerically_and_missing_last() {
    let (_dir, store) = readings();
    let sorted = |order| Query {
        sort: Some("value".into()),
        order,
        ..Query::default()
    };
    // Numbers before strings by kind; the reading without a value comes last either way.
    assert_eq!(
        names(&store, &sorted(Order::Asc)),
        ["r3", "r2", "r1", "r4", "r5"]
    );
    assert_eq!(
        names(&store, &sorted(Order::Desc)),
        ["r4", "r1", "r2", "r3", "r5"]
    );
    // Ties keep creation order.
    let by_sensor = Query {
        sort: Some("sensor".into()),
        ..Query::default()
    };
    assert_eq!(names(&store, &by_sensor), ["r3", "r1", "r4", "r2", "r5"]);
}

#[test]
fn limit_and_offset_cut_a_page_and_total_counts_all_matches() {
    let (_dir, store) = readings();
    for sort in [None, Some("name".to_owned())] {
        let page = |limit, offset| {
            let query = Query {
                sort: sort.clone(),
                limit,
                offset,
                total: true,
                ..Query::default()
            };
            let page = store.query("Reading", &query).unwrap();
            let names: Vec<_> = page.result.iter().map(|o| o["name"].clone()).collect();
            (names, page.total)
        };
        assert_eq!(page(Some(2), 0), (vec![json!("r1"), json!("r2")], 5));
        assert_eq!(page(Some(2), 3), (vec![json!("r4"), json!("r5")], 5));
        assert_eq!(page(None, 4), (vec![json!("r5")], 5));
        assert_eq!(page(Some(0), 0), (vec![], 5));
        assert_eq!(page(Some(3), 10), (vec![], 5));
    }
    let query = Query {
        limit: Some(1),
        total: true,
        ..filter("sensor", Op::Eq, json!("t1"))
    };
    let page = store.query("Reading", &query).unwrap();
    assert_eq!((page.result.len(), page.total), (1, 2));
}

#[test]
fn without_total_a_page_stops_the_scan_and_sorted_pages_stay_exact() {
    let (_database, store) = open();
    for i in 0..300 {
        store
            .create("Row", json!({"i": i, "bucket": i % 7}))
            .unwrap();
    }
    let first = Query {
        limit: Some(3),
        offset: 2,
        ..Query::default()
    };
    let page = store.query("Row", &first).unwrap();
    let rows: Vec<_> = page.result.iter().map(|o| o["i"].clone()).collect();
    assert_eq!(rows, [json!(2), json!(3), json!(4)]);
    assert_eq!(page.total, 5, "the scan stopped once the page was full");

    // Sorted in batches: the top rows, ties in creation order, whatever the batch size.
    let top = Query {
        sort: Some("bucket".into()),
        order: Order::Desc,
        limit: Some(4),
        offset: 1,
        total: true,
        ..Query::default()
    };
    let page = store.query("Row", &top).unwrap();
    let rows: Vec<_> = page.result.iter().map(|o| o["i"].clone()).collect();
    assert_eq!(rows, [json!(13), json!(20), json!(27), json!(34)]);
    assert_eq!(page.total, 300);
}

#[test]
fn json_queries_parse_every_shape() {
    let expected = Query {
        filters: vec![Filter {
            column: "sensor".into(),
            op: Op::Eq,
            value: json!("t1"),
        }],
        ..Query::default()
    };
    assert_eq!(
        Query::from_json(&json!({"sensor": "t1"})).unwrap(),
        expected
    );
    assert_eq!(
        Query::from_json(&json!({"filters": {"sensor": "t1"}})).unwrap(),
        expected
    );
    assert_eq!(
        Query::from_json(&json!({"filters": [{"column": "sensor", "value": "t1"}]})).unwrap(),
        expected
    );
    assert_eq!(Query::from_json(&json!({})).unwrap(), Query::default());
    let full = Query::from_json(&json!({
        "filters": [{"column": "value", "operator": "GTE", "value": 3}],
        "sort": "value", "order": "desc", "limit": 10, "offset": 5, "total": true,
    }))
    .unwrap();
    assert_eq!(
        full,
        Query {
            filters: vec![Filter {
                column: "value".into(),
                op: Op::Gte,
                value: json!(3)
            }],
            sort: Some("value".into()),
            order: Order::Desc,
            limit: Some(10),
            offset: 5,
            total: true,
        }
    );
}

#[test]
fn malformed_json_queries_name_the_bad_part() {
    assert!(bad_query(json!([1])).contains("JSON object"));
    let op = bad_query(json!({"filters": [{"column": "a", "operator": "near", "value": 1}]}));
    assert!(op.contains("unknown operator `near`"), "{op}");
    let list = bad_query(json!({"filters": [{"column": "a", "operator": "in", "value": 1}]}));
    assert!(list.contains("`in` needs a list"), "{list}");
    assert!(bad_query(json!({"filters": [{"operator": "eq", "value": 1}]})).contains("`column`"));
    assert!(bad_query(json!({"filters": [{"column": "a"}]})).contains("`value`"));
    assert!(
        bad_query(json!({"filters": [{"column": "a", "value": 1, "op": "eq"}]})).contains("`op`")
    );
    assert!(bad_query(json!({"filters": "a=1"})).contains("`filters`"));
    assert!(bad_query(json!({"limit": -1})).contains("`limit`"));
    assert!(bad_query(json!({"offset": "2"})).contains("`offset`"));
    assert!(bad_query(json!({"order": "up"})).contains("`order`"));
    assert!(bad_query(json!({"sort": 1})).contains("`sort`"));
    assert!(bad_query(json!({"limit": 1, "sensor": "t1"})).contains("`sensor`"));
}

#[test]
fn query_strings_match_text_against_numbers_and_booleans() {
    let (_dir, store) = readings();
    let params =
        |pairs: &[(&'static str, &'static str)]| Query::from_params(pairs.iter().copied()).unwrap();
    assert_eq!(names(&store, &params(&[("value", "21.5")])), ["r1"]);
    assert_eq!(names(&store, &params(&[("ok", "true")])), ["r1"]);
    assert_eq!(names(&store, &params(&[("value", "high")])), ["r4"]);
    assert_eq!(
        names(&store, &params(&[("sensor", "t1"), ("value", "high")])),
        ["r4"]
    );
    let query = params(&[
        ("_sort", "value"),
        ("_order", "desc"),
        ("_limit", "2"),
        ("_offset", "1"),
    ]);
    assert_eq!(
        (
            query.sort.as_deref(),
            query.order,
            query.limit,
            query.offset
        ),
        (Some("value"), Order::Desc, Some(2), 1)
    );
    assert_eq!(names(&store, &query), ["r1", "r2"]);
}

#[test]
fn bad_query_string_parameters_are_named() {
    for (key, value) in [("_limit", "ten"), ("_offset", "-1"), ("_order", "sideways")] {
        match Query::from_params([(key, value)]) {
            Err(Error::BadQuery(message)) => assert!(message.contains(key), "{message}"),
            other => panic!("{key}={value}: expected BadQuery, got {other:?}"),
        }
    }
}
