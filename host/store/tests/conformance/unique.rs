//! Properties unique on the server: a device's `username` is one value in every tenant, kept
//! through renames, deletes, concurrent writers and tenants removed, and found from any tenant
//! with the device's password hash (which no read returns).

use super::open;
use crate::id;
use serde_json::json;
use switchyard_model::MQTT_DEVICE;
use switchyard_store::Error;

fn device(username: &str) -> serde_json::Value {
    json!({"username": username, "password": "a good password", "publish": ["t/{username}"]})
}

fn taken<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(Error::Taken(message)) => message,
        other => panic!("expected Taken, got {other:?}"),
    }
}

#[test]
fn a_username_is_taken_once_on_the_server() {
    let (_database, store) = open();
    let (acme, globex) = (store.in_tenant("acme"), store.in_tenant("globex"));
    let alice = acme.create(MQTT_DEVICE, device("alice")).unwrap();
    let refused = taken(globex.create(MQTT_DEVICE, device("alice")));
    assert_eq!(refused, "MQTTDevice.username `alice` is taken: another MQTTDevice has it");
    taken(acme.create(MQTT_DEVICE, device("alice")));
    let bob = globex.create(MQTT_DEVICE, device("bob")).unwrap();
    taken(globex.update(id(&bob), json!({"username": "alice"})));

    // Renamed, the old name is free and the new one is not.
    acme.update(id(&alice), json!({"username": "alice2"})).unwrap();
    globex.update(id(&bob), json!({"username": "alice"})).unwrap();
    taken(acme.create(MQTT_DEVICE, device("alice")));
    // Writing the same name again is no clash with itself.
    globex.update(id(&bob), json!({"isEnabled": false})).unwrap();

    assert!(globex.delete(id(&bob)).unwrap());
    acme.create(MQTT_DEVICE, device("alice")).unwrap();
    let (tenant, found) = store.find_unique(MQTT_DEVICE, "alice").unwrap().unwrap();
    assert_eq!(tenant, "acme");
    assert!(found["password"].as_str().unwrap().starts_with("$argon2id$"));
    assert_eq!(store.find_unique(MQTT_DEVICE, "bob").unwrap(), None);

    acme.remove_tenant().unwrap();
    assert_eq!(store.find_unique(MQTT_DEVICE, "alice").unwrap(), None);
    globex.create(MQTT_DEVICE, device("alice")).unwrap();
}

#[test]
fn a_write_set_may_hand_a_name_over_but_not_take_one_twice() {
    let (_database, store) = open();
    let old = store.create(MQTT_DEVICE, device("gate")).unwrap();
    let mut txn = store.begin();
    txn.delete(id(&old)).unwrap();
    txn.create(MQTT_DEVICE, device("gate")).unwrap();
    txn.commit().unwrap();

    let mut txn = store.begin();
    txn.create(MQTT_DEVICE, device("twice")).unwrap();
    txn.create(MQTT_DEVICE, device("twice")).unwrap();
    taken(txn.commit());
    assert_eq!(store.find_unique(MQTT_DEVICE, "twice").unwrap(), None);
}

#[test]
fn of_concurrent_writers_taking_one_name_exactly_one_wins() {
    let (_database, store) = open();
    let writers: Vec<_> = (0..8)
        .map(|n| {
            let tenant = store.in_tenant(&format!("t{n}"));
            std::thread::spawn(move || tenant.create(MQTT_DEVICE, device("contested")))
        })
        .collect();
    let outcomes: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let won = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(won, 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(o, Ok(_) | Err(Error::Taken(_)))));
}

#[test]
fn a_device_password_is_stored_hashed_and_never_read_back() {
    let (_database, store) = open();
    let created = store.create(MQTT_DEVICE, device("carol")).unwrap();
    assert!(!created.contains_key("password"), "{created:?}");
    assert_eq!((created["isConnected"].clone(), created["lastSeen"].clone()), (json!(false), json!(null)));
    assert_eq!(created["isEnabled"], true);
    let read = store.get(id(&created)).unwrap().unwrap();
    assert!(!read.contains_key("password"));
    let stored = store.get_with_secrets(id(&created)).unwrap().unwrap();
    let hash = stored["password"].as_str().unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains("a good password"));
    // A PUT without the password keeps it; one with a new one hashes that.
    store.replace(id(&created), json!({"username": "carol"})).unwrap();
    assert_eq!(store.get_with_secrets(id(&created)).unwrap().unwrap()["password"], hash);
    store.update(id(&created), json!({"password": "another password"})).unwrap();
    let rehashed = store.get_with_secrets(id(&created)).unwrap().unwrap();
    assert_ne!(rehashed["password"], hash);
    let refused = store.create(MQTT_DEVICE, json!({"username": "d", "password": "short"}));
    assert!(matches!(refused, Err(Error::Invalid(m)) if m.contains("MQTTDevice.password")));
}
