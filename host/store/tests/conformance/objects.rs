//! Create, read, update, replace, delete, persistence and change events.

use super::open;
use crate::{id, invalid};
use serde_json::{Value, json};
use crate::Database;
use switchyard_store::{Change, ChangeKind, Error};

#[test]
fn create_assigns_id_type_and_timestamps() {
    let (_database, store) = open();
    let reading = store
        .create(
            "TemperatureReading",
            json!({"sensorId": "t1", "value": 21.5}),
        )
        .unwrap();
    assert_eq!(reading["type"], "TemperatureReading");
    assert_eq!(reading["sensorId"], "t1");
    assert_eq!(reading["value"], 21.5);
    let id = id(&reading);
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let created = reading["createdAt"].as_str().unwrap();
    // RFC 3339, UTC, milliseconds: 2025-01-02T03:04:05.678Z
    assert_eq!(created.len(), 24, "{created}");
    assert!(
        created.ends_with('Z') && created.as_bytes()[19] == b'.',
        "{created}"
    );
    assert_eq!(reading["updatedAt"], reading["createdAt"]);
    assert_eq!(store.get(id).unwrap(), Some(reading));
}

#[test]
fn get_of_unknown_id_is_none() {
    let (_database, store) = open();
    assert_eq!(store.get("no-such-id").unwrap(), None);
}

#[test]
fn create_rejects_bad_type_names_and_non_objects() {
    let (_database, store) = open();
    for bad in ["", "1Reading", "my-type", "a/b", "Ä", &"A".repeat(65)] {
        let message = invalid(store.create(bad, json!({})));
        assert!(message.contains(&format!("`{bad}`")), "{message}");
    }
    assert!(store.create(&"A".repeat(64), json!({})).is_ok());
    assert_eq!(
        invalid(store.create("Reading", json!([1, 2]))),
        "properties must be a JSON object"
    );
}

#[test]
fn create_rejects_reserved_properties() {
    let (_database, store) = open();
    for prop in ["id", "type", "createdAt", "updatedAt", "version"] {
        let message = invalid(store.create("Reading", json!({ prop: "x" })));
        assert!(message.contains(&format!("`{prop}`")), "{message}");
    }
}

#[test]
fn update_merges_and_null_removes() {
    let (_database, store) = open();
    let created = store
        .create("Reading", json!({"a": 1, "b": 2, "keep": true}))
        .unwrap();
    let updated = store
        .update(id(&created), json!({"a": 10, "b": null, "c": "new"}))
        .unwrap();
    assert_eq!(updated["a"], 10);
    assert!(!updated.contains_key("b"));
    assert_eq!(updated["c"], "new");
    assert_eq!(updated["keep"], true);
    assert_eq!(updated["createdAt"], created["createdAt"]);
    assert!(updated["updatedAt"].as_str() >= created["updatedAt"].as_str());
    assert_eq!(store.get(id(&created)).unwrap(), Some(updated));
}

#[test]
fn replace_swaps_user_properties_and_keeps_reserved_ones() {
    let (_database, store) = open();
    let created = store.create("Reading", json!({"a": 1, "b": 2})).unwrap();
    let replaced = store.replace(id(&created), json!({"c": 3})).unwrap();
    assert_eq!(replaced["c"], 3);
    assert!(!replaced.contains_key("a") && !replaced.contains_key("b"));
    for prop in ["id", "type", "createdAt"] {
        assert_eq!(replaced[prop], created[prop], "{prop}");
    }
}

#[test]
fn a_read_object_can_be_written_back_but_reserved_values_cannot_change() {
    let (_database, store) = open();
    let created = store.create("Reading", json!({"a": 1})).unwrap();
    let mut edited = created.clone();
    edited.insert("a".into(), json!(2));
    let replaced = store
        .replace(id(&created), Value::Object(edited.clone()))
        .unwrap();
    assert_eq!(replaced["a"], 2);
    // The copy's `updatedAt` is stale now; writing it back again still works.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let patched = store.update(id(&created), Value::Object(edited)).unwrap();
    assert_eq!(patched["a"], 2);
    assert_ne!(patched["updatedAt"], created["updatedAt"]);

    for (prop, value) in [
        ("id", json!("other")),
        ("type", json!("Other")),
        ("createdAt", json!("2000-01-01T00:00:00.000Z")),
    ] {
        let message = invalid(store.update(id(&created), json!({ prop: value })));
        assert!(message.contains(&format!("`{prop}`")), "{message}");
        let message = invalid(store.replace(id(&created), json!({ prop: value })));
        assert!(message.contains(&format!("`{prop}`")), "{message}");
    }
    assert_eq!(store.get(id(&created)).unwrap().unwrap()["type"], "Reading");
}

#[test]
fn writes_to_a_missing_object_are_not_found() {
    let (_database, store) = open();
    assert!(
        matches!(store.update("nope", json!({})), Err(Error::NotFound(m)) if m.contains("nope"))
    );
    assert!(matches!(
        store.replace("nope", json!({})),
        Err(Error::NotFound(_))
    ));
    assert!(!store.delete("nope").unwrap());
}

#[test]
fn update_input_must_be_an_object() {
    let (_database, store) = open();
    let created = store.create("Reading", json!({})).unwrap();
    assert_eq!(
        invalid(store.update(id(&created), json!("text"))),
        "properties must be a JSON object"
    );
}

#[test]
fn delete_removes_the_object_once() {
    let (_database, store) = open();
    let created = store.create("Reading", json!({"a": 1})).unwrap();
    assert!(store.delete(id(&created)).unwrap());
    assert_eq!(store.get(id(&created)).unwrap(), None);
    assert!(!store.delete(id(&created)).unwrap());
    let page = store.query("Reading", &Default::default()).unwrap();
    assert_eq!(page.total, 0);
}

#[test]
fn objects_survive_reopening() {
    let (database, store) = open();
    let reading = store.create("Reading", json!({"value": 1})).unwrap();
    let deleted = store.create("Reading", json!({"value": 2})).unwrap();
    store.delete(id(&deleted)).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = database.open();
    assert_eq!(store.get(id(&reading)).unwrap(), Some(reading.clone()));
    assert_eq!(store.get(id(&deleted)).unwrap(), None);
    let page = store.query("Reading", &Default::default()).unwrap();
    assert_eq!(page.result, vec![reading]);
}

#[test]
fn committed_writes_are_announced() {
    let (_database, store) = open();
    let mut changes = store.subscribe();
    let created = store.create("Reading", json!({"a": 1})).unwrap();
    store.update(id(&created), json!({"a": 2})).unwrap();
    store.delete(id(&created)).unwrap();
    let change = |kind| Change {
        tenant: "default".into(),
        kind,
        type_name: "Reading".into(),
        id: id(&created).into(),
    };
    for kind in [
        ChangeKind::Created,
        ChangeKind::Updated,
        ChangeKind::Deleted,
    ] {
        assert_eq!(changes.try_recv().unwrap(), change(kind));
    }
    assert!(changes.try_recv().is_err(), "nothing else was announced");
}

#[test]
fn failed_writes_are_not_announced() {
    let (_database, store) = open();
    let mut changes = store.subscribe();
    store.create(crate::TEST_CLIENT, json!({})).unwrap_err();
    assert!(!store.delete("nope").unwrap());
    assert!(changes.try_recv().is_err());
}

#[test]
fn types_lists_each_type_with_objects_once() {
    let (_database, store) = open();
    assert!(store.types().unwrap().is_empty());
    // `A0` and `Ab` sort between `A`'s keys and `B`'s; each type is read once however many
    // objects it has.
    for type_name in ["B", "A", "Ab", "A", "A0", "A"] {
        store.create(type_name, json!({})).unwrap();
    }
    assert_eq!(store.types().unwrap(), ["A", "A0", "Ab", "B"]);
    let only_b = store.query("B", &Default::default()).unwrap().result;
    store.delete(id(&only_b[0])).unwrap();
    assert_eq!(
        store.types().unwrap(),
        ["A", "A0", "Ab"],
        "a type with no objects left"
    );
}

#[tokio::test]
async fn write_object_reaches_only_its_type_and_what_passes_the_filters() {
    let (_database, store) = open();
    let order = store
        .create("Order", json!({"owner": "acme", "qty": 1}))
        .unwrap();
    let id = id(&order);
    let anyone = switchyard_store::Query::default();
    let acme = switchyard_store::Query::from_params([("owner", "acme")]).unwrap();
    let globex = switchyard_store::Query::from_params([("owner", "globex")]).unwrap();
    let merge = |txn: &mut switchyard_store::Txn| txn.update(id, json!({"qty": 2}));
    for (type_name, within) in [("Invoice", &anyone), ("Order", &globex)] {
        let refused = store.write_object(type_name, id, None, within, merge).await;
        assert!(
            matches!(refused, Err(Error::NotFound(_))),
            "{type_name} within {within:?}: {refused:?}"
        );
    }
    assert_eq!(store.get(id).unwrap().unwrap()["qty"], 1, "nothing written");
    let merged = store.write_object("Order", id, None, &acme, merge).await;
    let merged = merged.unwrap();
    assert_eq!(merged["qty"], 2);
}
