//! What only a shared engine does: several stores on one PostgreSQL database, as several
//! instances open it, hear each other's changes, hear that they may have missed some when
//! their listening connection drops, and lose no update when they write the same object at
//! once. The database is a real PostgreSQL, a cluster of this test binary's own (see
//! `switchyard_test_support::postgres`).

use serde_json::json;
use std::time::{Duration, Instant};
use switchyard_model::Kinds;
use switchyard_store::{Change, ChangeKind, Error, Query, SpaceChange, Store, Txn};
use switchyard_test_support::postgres;
use tokio::sync::broadcast::Receiver;

/// Two instances' stores on one new database, each with a directory of its own.
fn instances() -> (tempfile::TempDir, String, Store, Store) {
    let url = postgres::database();
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        Store::open_postgres(&url, &dir.path().join(name), Kinds::default()).expect("open")
    };
    let (a, b) = (open("a"), open("b"));
    (dir, url, a, b)
}

/// The next message of `receiver` that `wanted` accepts, within 10 s.
fn next<T: Clone>(receiver: &mut Receiver<T>, wanted: impl Fn(&T) -> bool) -> T {
    let start = Instant::now();
    loop {
        match receiver.try_recv() {
            Ok(message) if wanted(&message) => return message,
            Ok(_) => {}
            Err(_) => {
                assert!(start.elapsed() < Duration::from_secs(10), "nothing heard");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

#[test]
fn an_instance_hears_what_another_commits() {
    let (_dir, _url, a, b) = instances();
    let mut objects = b.subscribe();
    let mut spaces = b.space_changes();
    let created = a.create("Reading", json!({"n": 1})).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let heard = next(&mut objects, |_| true);
    assert_eq!(
        heard,
        Change {
            tenant: "default".into(),
            kind: ChangeKind::Created,
            type_name: "Reading".into(),
            id: id.clone(),
        }
    );
    assert_eq!(b.get(&id).unwrap(), Some(created), "and reads it");
    a.delete(&id).unwrap();
    assert_eq!(next(&mut objects, |_| true).kind, ChangeKind::Deleted);

    a.space("plugins").put("meta/default/p", b"{}").unwrap();
    assert_eq!(
        next(&mut spaces, |_| true),
        SpaceChange::Entry {
            space: "plugins".into(),
            key: "meta/default/p".into()
        }
    );

    a.create_index("Reading", "n").unwrap();
    let start = Instant::now();
    while b.indexes().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the index was not heard of"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(b.indexes(), [("Reading".to_owned(), "n".to_owned())]);
    let mut own = a.subscribe();
    b.create("Reading", json!({"n": 2})).unwrap();
    next(&mut own, |change| change.kind == ChangeKind::Created);
    assert!(
        own.try_recv().is_err(),
        "an instance does not hear its own changes twice"
    );
}

#[test]
fn a_dropped_listening_connection_is_followed_by_a_resynchronisation() {
    let (_dir, url, a, b) = instances();
    let (mut objects, mut spaces) = (b.subscribe(), b.space_changes());
    postgres::query(
        &url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'switchyard-listen'",
    );
    next(&mut objects, |change| change.kind == ChangeKind::Missed);
    next(&mut spaces, |change| *change == SpaceChange::Missed);
    // Listening again: what the other instance commits is heard as before.
    let created = a.create("Reading", json!({})).unwrap();
    let heard = next(&mut objects, |change| change.kind == ChangeKind::Created);
    assert_eq!(heard.id, created["id"].as_str().unwrap());
}

#[test]
fn two_instances_writing_one_object_at_once_lose_no_update() {
    let (_dir, _url, a, b) = instances();
    let counter = a.create("Counter", json!({"n": 0})).unwrap();
    let id = counter["id"].as_str().unwrap();
    const EACH: u64 = 25;
    std::thread::scope(|scope| {
        for store in [&a, &a, &b, &b] {
            scope.spawn(move || {
                for _ in 0..EACH {
                    // Each try reads the counter again; one that loses every race says so
                    // (a conflict) and is tried again, as an API client would.
                    loop {
                        let incremented = store.write(|txn| {
                            let current = txn.get(id)?.expect("the counter")["n"].as_u64();
                            txn.update(id, json!({"n": current.unwrap_or(0) + 1}))
                        });
                        match incremented {
                            Ok(_) => break,
                            Err(Error::Conflict(_)) => continue,
                            Err(e) => panic!("an increment failed: {e}"),
                        }
                    }
                }
            });
        }
    });
    assert_eq!(b.get(id).unwrap().unwrap()["n"], 4 * EACH);
}

/// Eight writers on two instances merging into one object at once without a version (as a
/// `PATCH` without `If-Match` does), each blocking a thread of its own: every merge lands,
/// none is refused as a conflict, because a writer that lost a race waits a random pause,
/// growing with each loss, before its next try instead of losing to the others again.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn merges_racing_on_one_object_from_two_instances_all_land() {
    const WRITERS: usize = 8;
    const EACH: u64 = 30;
    let (_dir, _url, a, b) = instances();
    let object = a.create("Counter", json!({})).unwrap();
    let id = object["id"].as_str().unwrap().to_owned();
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let (store, id) = ([&a, &b][writer % 2].clone(), id.clone());
        writers.spawn(async move {
            let anyone = Query::default();
            for i in 1..=EACH {
                let merge = |txn: &mut Txn| txn.update(&id, json!({format!("w{writer}"): i}));
                let merged = store
                    .write_object("Counter", &id, None, &anyone, merge)
                    .await;
                merged.unwrap_or_else(|e| panic!("writer {writer}'s merge {i}: {e}"));
            }
        });
    }
    writers.join_all().await;
    let merged = b.get(&id).unwrap().unwrap();
    for writer in 0..WRITERS {
        assert_eq!(merged[&format!("w{writer}")], EACH, "{merged:?}");
    }
}

#[test]
fn a_queued_record_one_instance_holds_is_left_to_it_until_its_hold_ends() {
    let (_dir, _url, a, b) = instances();
    let (mine, theirs) = (a.queue("retries"), b.queue("retries"));
    mine.push(0, b"retry me").unwrap();
    let queued = mine.first().unwrap().expect("the record");
    assert!(mine.claim(&queued, Duration::from_millis(300)).unwrap());
    assert!(
        theirs.first().unwrap().is_none(),
        "held by the other instance"
    );
    assert!(!theirs.claim(&queued, Duration::from_secs(60)).unwrap());
    // The holder goes away without removing it: once its hold ends, the other takes it.
    drop((mine, a));
    let start = Instant::now();
    let left = loop {
        if let Some(left) = theirs.first().unwrap() {
            break left;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never left over");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(left.record, b"retry me");
    assert!(theirs.claim(&left, Duration::from_secs(60)).unwrap());
}
