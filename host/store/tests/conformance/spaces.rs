//! The key-value spaces and durable queues the host keeps beside the objects.

use super::open;
use crate::Database;

#[test]
fn a_space_keeps_its_entries_apart_from_other_spaces_and_across_reopening() {
    let (database, store) = open();
    let plugins = store.space("plugins");
    plugins.put("meta/recorder", b"{}").unwrap();
    plugins.put("wasm/recorder", b"\0asm").unwrap();
    plugins.put("meta/forwarder", b"{}").unwrap();
    store.space("settings").put("meta/recorder", b"other").unwrap();
    drop((plugins, store));

    let store = database.open();
    let plugins = store.space("plugins");
    assert_eq!(
        plugins.get("wasm/recorder").unwrap().as_deref(),
        Some(&b"\0asm"[..])
    );
    let metas: Vec<String> = (plugins.list("meta/").unwrap().into_iter())
        .map(|(key, _)| key)
        .collect();
    assert_eq!(metas, ["meta/forwarder", "meta/recorder"], "in key order");
    let settings = store.space("settings");
    assert_eq!(settings.get("meta/recorder").unwrap().as_deref(), Some(&b"other"[..]));
    assert_eq!(settings.get("wasm/recorder").unwrap(), None);
}

#[test]
fn a_space_write_sets_and_removes_together() {
    let (_database, store) = open();
    let space = store.space("plugins");
    space.put("a", b"1").unwrap();
    space
        .write(&[("a", None), ("b", Some(b"2")), ("c", Some(b"3"))])
        .unwrap();
    let all: Vec<(String, Vec<u8>)> = space.list("").unwrap();
    assert_eq!(
        all,
        [("b".to_owned(), b"2".to_vec()), ("c".to_owned(), b"3".to_vec())]
    );
}

#[test]
fn a_queue_hands_out_records_in_due_order_and_keeps_them_across_reopening() {
    let (database, store) = open();
    let retries = store.queue("retries");
    retries.push(300, b"third").unwrap();
    retries.push(100, b"first").unwrap();
    retries.push(200, b"second").unwrap();
    retries.push(100, b"first too").unwrap();
    store.queue("other").push(1, b"elsewhere").unwrap();
    store.flush().unwrap();
    drop((retries, store));

    let store = database.open();
    let retries = store.queue("retries");
    let mut taken = Vec::new();
    while let Some(queued) = retries.first().unwrap() {
        taken.push((queued.due_ms, String::from_utf8(queued.record.clone()).unwrap()));
        retries.remove(&queued).unwrap();
    }
    assert_eq!(
        taken,
        [
            (100, "first".to_owned()),
            (100, "first too".to_owned()),
            (200, "second".to_owned()),
            (300, "third".to_owned()),
        ],
        "due order, then the order they were queued in"
    );
    let other = store.queue("other").first().unwrap().expect("its own record");
    assert_eq!(other.record, b"elsewhere");
}
