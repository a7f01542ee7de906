//! Write sets: reading own writes, discarding on drop, atomic commit and conflicts.

use super::open;
use crate::id;
use serde_json::json;
use switchyard_store::{ChangeKind, Error, Query};

#[test]
fn a_transaction_reads_its_own_writes_and_others_do_not_see_them() {
    let (_database, store) = open();
    let existing = store.create("Reading", json!({"value": 1})).unwrap();
    let removed = store.create("Reading", json!({"value": 2})).unwrap();

    let mut txn = store.begin();
    let created = txn.create("Reading", json!({"value": 3})).unwrap();
    txn.update(id(&existing), json!({"value": 10})).unwrap();
    assert!(txn.delete(id(&removed)).unwrap());

    assert_eq!(txn.get(id(&created)).unwrap(), Some(created.clone()));
    assert_eq!(txn.get(id(&existing)).unwrap().unwrap()["value"], 10);
    assert_eq!(txn.get(id(&removed)).unwrap(), None);
    let values = |page: switchyard_store::Page| {
        page.result
            .iter()
            .map(|o| o["value"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        values(txn.query("Reading", &Query::default()).unwrap()),
        [json!(10), json!(3)]
    );

    // Outside the transaction nothing changed yet.
    assert_eq!(store.get(id(&created)).unwrap(), None);
    assert_eq!(store.get(id(&existing)).unwrap().unwrap()["value"], 1);
    assert!(store.get(id(&removed)).unwrap().is_some());
    assert_eq!(
        values(store.query("Reading", &Query::default()).unwrap()),
        [json!(1), json!(2)]
    );

    let changes = txn.commit().unwrap();
    let kinds: Vec<_> = changes.iter().map(|c| (c.kind, c.id.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (ChangeKind::Created, id(&created)),
            (ChangeKind::Updated, id(&existing)),
            (ChangeKind::Deleted, id(&removed)),
        ]
    );
    assert_eq!(
        values(store.query("Reading", &Query::default()).unwrap()),
        [json!(10), json!(3)]
    );
}

#[test]
fn dropping_a_transaction_discards_its_writes() {
    let (_database, store) = open();
    let existing = store.create("Reading", json!({"value": 1})).unwrap();
    let mut changes = store.subscribe();
    let created = {
        let mut txn = store.begin();
        txn.update(id(&existing), json!({"value": 2})).unwrap();
        txn.delete(id(&existing)).unwrap();
        txn.create("Reading", json!({"value": 3})).unwrap()
    };
    assert_eq!(store.get(id(&created)).unwrap(), None);
    assert_eq!(store.get(id(&existing)).unwrap().unwrap()["value"], 1);
    assert!(changes.try_recv().is_err());
}

#[test]
fn create_then_delete_in_one_transaction_leaves_nothing() {
    let (_database, store) = open();
    let mut txn = store.begin();
    assert!(txn.is_empty());
    let created = txn.create("Reading", json!({})).unwrap();
    assert!(!txn.is_empty());
    assert!(txn.delete(id(&created)).unwrap());
    assert!(!txn.delete(id(&created)).unwrap());
    assert!(txn.is_empty());
    assert!(txn.commit().unwrap().is_empty());
    assert_eq!(store.get(id(&created)).unwrap(), None);
}

#[test]
fn writes_in_a_transaction_build_on_each_other() {
    let (_database, store) = open();
    let mut txn = store.begin();
    let created = txn.create("Reading", json!({"a": 1})).unwrap();
    txn.update(id(&created), json!({"b": 2})).unwrap();
    txn.replace(id(&created), json!({"c": 3})).unwrap();
    let changes = txn.commit().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, ChangeKind::Created);
    let stored = store.get(id(&created)).unwrap().unwrap();
    assert_eq!(
        (stored.get("a"), stored.get("b"), &stored["c"]),
        (None, None, &json!(3))
    );
}

#[test]
fn a_write_to_an_object_deleted_meanwhile_conflicts_and_nothing_lands() {
    let (_database, store) = open();
    for write in ["update", "replace", "delete"] {
        let target = store.create("Reading", json!({"value": 1})).unwrap();
        let mut txn = store.begin();
        let created = txn.create("Reading", json!({"value": 2})).unwrap();
        match write {
            "update" => drop(txn.update(id(&target), json!({"value": 3})).unwrap()),
            "replace" => drop(txn.replace(id(&target), json!({"value": 3})).unwrap()),
            _ => assert!(txn.delete(id(&target)).unwrap()),
        }
        assert!(store.delete(id(&target)).unwrap());
        match txn.commit() {
            Err(Error::Conflict(message)) => assert!(message.contains(id(&target)), "{message}"),
            other => panic!("{write}: expected a conflict, got {other:?}"),
        }
        assert_eq!(store.get(id(&created)).unwrap(), None, "{write}");
        assert_eq!(store.get(id(&target)).unwrap(), None, "{write}");
    }
    assert_eq!(store.query("Reading", &Query::default()).unwrap().total, 0);
}

#[test]
fn a_write_based_on_a_stale_read_conflicts_and_nothing_lands() {
    let (_database, store) = open();
    let counter = store.create("Counter", json!({"count": 0})).unwrap();
    let counter = id(&counter);

    // Two read-modify-writes of one counter, interleaved: the second must not win.
    let mut first = store.begin();
    let mut second = store.begin();
    let read = |txn: &switchyard_store::Txn| txn.get(counter).unwrap().unwrap()["count"].clone();
    let (a, b) = (read(&first), read(&second));
    let bystander = second.create("Bystander", json!({})).unwrap();
    first
        .update(counter, json!({"count": a.as_i64().unwrap() + 1}))
        .unwrap();
    second
        .update(counter, json!({"count": b.as_i64().unwrap() + 1}))
        .unwrap();
    first.commit().unwrap();
    match second.commit() {
        Err(Error::Conflict(message)) => {
            assert!(message.contains("version 2"), "{message}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let stored = store.get(counter).unwrap().unwrap();
    assert_eq!(
        (stored["count"].clone(), stored["version"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(
        store.get(id(&bystander)).unwrap(),
        None,
        "nothing of the loser lands"
    );
}

#[test]
fn an_expected_version_guards_the_write() {
    let (_database, store) = open();
    let note = store.create("Note", json!({"text": "a"})).unwrap();
    let note = id(&note);
    store.update(note, json!({"text": "b"})).unwrap();
    let mut stale = store.begin();
    assert!(matches!(
        stale.expect_version(note, 1),
        Err(Error::Conflict(_))
    ));
    let mut current = store.begin();
    current.expect_version(note, 2).unwrap();
    current.update(note, json!({"text": "c"})).unwrap();
    store.update(note, json!({"other": 1})).unwrap();
    assert!(matches!(current.commit(), Err(Error::Conflict(_))));
    assert_eq!(store.get(note).unwrap().unwrap()["text"], "b");
}

#[tokio::test]
async fn concurrent_syncs_all_return_once_flushed() {
    let (_database, store) = open();
    store.create("Note", json!({"text": "a"})).unwrap();
    let waits: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.sync().await })
        })
        .collect();
    for wait in waits {
        wait.await.unwrap().unwrap();
    }
}

/// Many tasks commit at once, so their write sets share sled transactions. Each reads a
/// counter, increments it and records its increment in an object of its own. A set that lost
/// the race must fail alone and leave nothing behind; a set that committed must count: the
/// counter ends at exactly the number of records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_commits_of_concurrent_writers_lose_no_update_and_leave_no_half_set() {
    let (_database, store) = open();
    let counter = store.create("Counter", json!({"n": 0})).unwrap();
    let counter = id(&counter).to_owned();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(64));
    let writers: Vec<_> = (0..64)
        .map(|writer| {
            let (store, counter, start) = (store.clone(), counter.clone(), start.clone());
            tokio::spawn(async move {
                let mut committed = 0;
                for round in 0..10 {
                    let mut txn = store.begin();
                    let n = txn.get(&counter).unwrap().unwrap()["n"].as_u64().unwrap();
                    txn.update(&counter, json!({"n": n + 1})).unwrap();
                    txn.create("Increment", json!({"writer": writer, "round": round}))
                        .unwrap();
                    if round == 0 {
                        start.wait().await;
                    }
                    match txn.commit_grouped().await {
                        Ok(_) => committed += 1,
                        Err(Error::Conflict(_)) => {}
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
                committed
            })
        })
        .collect();
    let mut committed = 0;
    for writer in writers {
        committed += writer.await.unwrap();
    }
    let increments = store.query("Increment", &Query::default()).unwrap();
    let n = store.get(&counter).unwrap().unwrap()["n"].as_u64().unwrap();
    assert!(committed > 0, "some writer got through");
    assert!(committed < 640, "the race was real: some writer lost it");
    assert_eq!(increments.result.len(), committed);
    assert_eq!(
        n as usize, committed,
        "every committed increment counted once"
    );
}

/// Clients and subscribers are served from memory; a read that starts after a commit
/// returned sees that commit, even while other threads keep reading the object.
#[test]
fn a_read_after_a_commit_sees_it_while_others_read_concurrently() {
    let (_database, store) = open();
    let subscriber = store
        .create(
            "MessageSubscriber",
            json!({"topic": "a/#", "callback": "p", "threshold": 0}),
        )
        .unwrap();
    let sid = id(&subscriber).to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, sid, stop) = (store.clone(), sid.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    store.get(&sid).unwrap().unwrap();
                }
            })
        })
        .collect();
    for n in 1..=300 {
        store.update(&sid, json!({"threshold": n})).unwrap();
        let read = store.get(&sid).unwrap().unwrap();
        assert_eq!(read["threshold"], n, "read {n} after committing it");
        let in_txn = store.begin().get(&sid).unwrap().unwrap();
        assert_eq!(in_txn["threshold"], n);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.join().unwrap();
    }
}

/// `inspect` reads as `get` does (this write set's own version first, a committed object's
/// version remembered, so a change by another writer shows in `reads_current`), but hands the
/// object over whole, secrets included, for the host's own checks; a cached built-in object
/// (a client) and a plain one alike.
#[test]
fn inspect_reads_as_get_does_and_the_read_counts() {
    let (_database, store) = open();
    let client = (store.create(crate::TEST_CLIENT, json!({"url": "test://a", "password": "pw"})))
        .unwrap();
    let note = store.create("Note", json!({"text": "a"})).unwrap();
    let (client, note) = (id(&client), id(&note));

    let mut txn = store.begin();
    let secret = |o: &switchyard_store::Object| o.get("password").cloned();
    assert_eq!(txn.inspect(client, secret).unwrap(), Some(Some(json!("pw"))));
    assert_eq!(txn.get(client).unwrap().unwrap().get("password"), None);
    assert_eq!(txn.inspect("no-such-id", |_| ()).unwrap(), None);
    let text = |o: &switchyard_store::Object| o["text"].clone();
    assert_eq!(txn.inspect(note, text).unwrap(), Some(json!("a")));
    txn.update(note, json!({"text": "mine"})).unwrap();
    assert_eq!(txn.inspect(note, text).unwrap(), Some(json!("mine")));
    assert!(txn.reads_current().unwrap());

    store.update(client, json!({"url": "test://b"})).unwrap();
    assert!(!txn.reads_current().unwrap(), "the inspected client changed");
}
