//! Built-in types: validation messages, defaults, read-only status and write-only secrets.

use super::open;
use crate::{TEST_CLIENT, id, invalid};
use serde_json::{Value, json};
use switchyard_store::{ChangeKind, Object, Query, Store};

fn client(store: &Store, extra: Value) -> Result<Object, switchyard_store::Error> {
    let mut props = json!({"url": "test://broker"});
    props
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    store.create(TEST_CLIENT, props)
}

#[test]
fn a_client_gets_its_kinds_defaults_and_initial_status() {
    let (_database, store) = open();
    let client = client(&store, json!({})).unwrap();
    assert_eq!(client["url"], "test://broker");
    assert_eq!(client["isEnabled"], false);
    assert_eq!(client["isConnected"], false);
    assert_eq!(client["lastError"], Value::Null);
}

#[test]
fn a_client_is_checked_by_its_kind_on_every_write() {
    let (_database, store) = open();
    assert_eq!(
        invalid(store.create(TEST_CLIENT, json!({}))),
        "TestClient.url is required"
    );
    assert_eq!(
        invalid(client(&store, json!({"name": 1}))),
        "TestClient.name must be a string"
    );
    let client = client(&store, json!({"isEnabled": true})).unwrap();
    assert_eq!(
        invalid(store.update(id(&client), json!({"url": 7}))),
        "TestClient.url must be a string"
    );
    assert_eq!(
        invalid(store.replace(id(&client), json!({"name": "c"}))),
        "TestClient.url is required"
    );
    // Removing a defaulted property brings the default back.
    let updated = store.update(id(&client), json!({"isEnabled": null})).unwrap();
    assert_eq!(updated["isEnabled"], false);
}

#[test]
fn passwords_are_never_read_back() {
    let (_database, store) = open();
    let client = client(&store, json!({"username": "u", "password": "secret"})).unwrap();
    assert!(!client.contains_key("password"));
    assert_eq!(client["username"], "u");
    assert!(
        !store
            .get(id(&client))
            .unwrap()
            .unwrap()
            .contains_key("password")
    );
    let mut txn = store.begin();
    assert!(
        !txn.get(id(&client))
            .unwrap()
            .unwrap()
            .contains_key("password")
    );
    assert!(
        !txn.update(id(&client), json!({"name": "n"}))
            .unwrap()
            .contains_key("password")
    );
    drop(txn);
    let page = store.query(TEST_CLIENT, &Query::default()).unwrap();
    assert!(!page.result[0].contains_key("password"));
    // Not even by probing with a filter.
    let probe = Query::from_json(&json!({"password": "secret"})).unwrap();
    assert_eq!(store.query(TEST_CLIENT, &probe).unwrap().total, 0);
    let full = store.get_with_secrets(id(&client)).unwrap().unwrap();
    assert_eq!(full["password"], "secret");
}

#[test]
fn passwords_survive_writes_that_omit_them_and_null_removes_them() {
    let (_database, store) = open();
    let client = client(&store, json!({"password": "secret"})).unwrap();
    let secret = |store: &Store| {
        store
            .get_with_secrets(id(&client))
            .unwrap()
            .unwrap()
            .get("password")
            .cloned()
    };

    // GET, edit, PUT: the password was not in what the user read, and stays.
    let mut read = store.get(id(&client)).unwrap().unwrap();
    read.insert("name".into(), json!("edited"));
    store.replace(id(&client), Value::Object(read)).unwrap();
    assert_eq!(secret(&store), Some(json!("secret")));
    store.update(id(&client), json!({"username": "v"})).unwrap();
    assert_eq!(secret(&store), Some(json!("secret")));

    store
        .replace(
            id(&client),
            json!({"url": "test://broker", "password": "new"}),
        )
        .unwrap();
    assert_eq!(secret(&store), Some(json!("new")));
    store
        .update(id(&client), json!({"password": null}))
        .unwrap();
    assert_eq!(secret(&store), None);
    store
        .update(id(&client), json!({"password": "again"}))
        .unwrap();
    store
        .replace(
            id(&client),
            json!({"url": "test://broker", "password": null}),
        )
        .unwrap();
    assert_eq!(secret(&store), None);
}

#[test]
fn users_cannot_write_connection_status() {
    let (_database, store) = open();
    let client = client(&store, json!({"isConnected": true, "lastError": "fake"})).unwrap();
    assert_eq!(
        (&client["isConnected"], &client["lastError"]),
        (&json!(false), &Value::Null)
    );
    let updated = store
        .update(
            id(&client),
            json!({"isConnected": true, "lastError": "fake"}),
        )
        .unwrap();
    assert_eq!(
        (&updated["isConnected"], &updated["lastError"]),
        (&json!(false), &Value::Null)
    );
    let replaced = store
        .replace(
            id(&client),
            json!({"url": "test://broker", "isConnected": true}),
        )
        .unwrap();
    assert_eq!(replaced["isConnected"], false);
}

#[test]
fn the_host_sets_status_and_user_writes_keep_it() {
    let (_database, store) = open();
    let client = client(&store, json!({"name": "c", "username": "u"})).unwrap();
    let mut changes = store.subscribe();
    let status = json!({"isConnected": true, "lastError": "refused"});
    store
        .set_status(id(&client), status.as_object().unwrap().clone())
        .unwrap();
    let change = changes.try_recv().unwrap();
    assert_eq!(
        (change.kind, change.id.as_str()),
        (ChangeKind::Updated, id(&client))
    );

    let read = store.get(id(&client)).unwrap().unwrap();
    assert_eq!(
        (&read["isConnected"], &read["lastError"]),
        (&json!(true), &json!("refused"))
    );
    assert_eq!((&read["name"], &read["username"]), (&json!("c"), &json!("u")));

    let updated = store.update(id(&client), json!({"name": "d"})).unwrap();
    assert_eq!(updated["isConnected"], true);
    // Also when the user's write was computed before the host changed the status.
    let mut txn = store.begin();
    txn.update(id(&client), json!({"name": "e"})).unwrap();
    let status = json!({"isConnected": false, "lastError": "gone"});
    store
        .set_status(id(&client), status.as_object().unwrap().clone())
        .unwrap();
    txn.commit().unwrap();
    let read = store.get(id(&client)).unwrap().unwrap();
    assert_eq!(
        (&read["name"], &read["lastError"]),
        (&json!("e"), &json!("gone"))
    );
}

#[test]
fn set_status_on_a_deleted_object_does_nothing() {
    let (_database, store) = open();
    let client = client(&store, json!({})).unwrap();
    store.delete(id(&client)).unwrap();
    let mut changes = store.subscribe();
    let status = json!({"isConnected": true});
    store
        .set_status(id(&client), status.as_object().unwrap().clone())
        .unwrap();
    assert_eq!(store.get(id(&client)).unwrap(), None);
    assert!(changes.try_recv().is_err());
}

#[test]
fn a_subscriber_topic_must_suit_its_clients() {
    let (_database, store) = open();
    let client = client(&store, json!({})).unwrap();
    let subscriber = |topic: &str, clients: Value| {
        store.create(
            "MessageSubscriber",
            json!({"topic": topic, "callback": "p", "clients": clients}),
        )
    };
    assert!(subscriber("orders", json!([id(&client)])).is_ok());
    let refused = invalid(subscriber("orders/eu", json!([id(&client)])));
    assert_eq!(
        refused,
        format!(
            "MessageSubscriber.topic cannot be followed by TestClient `{}`: `orders/eu` has \
             levels, which this broker does not",
            id(&client)
        )
    );
    // Linking the client later is checked too; an unknown client is no link.
    let refused = invalid(subscriber("orders/eu", json!(["not-a-client"])));
    assert_eq!(
        refused,
        "MessageSubscriber.clients names `not-a-client`, which is not a client"
    );
    let linked = subscriber("orders/eu", json!([])).unwrap();
    let clients = json!({"clients": [id(&client)]});
    assert!(invalid(store.update(id(&linked), clients)).contains("has levels"));
    // A link to a client deleted since stays through later changes.
    let other = self::client(&store, json!({})).unwrap();
    let linked = subscriber("orders", json!([id(&other)])).unwrap();
    store.delete(id(&other)).unwrap();
    store.update(id(&linked), json!({"topic": "stock"})).unwrap();
}

#[test]
fn message_subscriber_checks_topic_and_callback_and_keeps_settings() {
    let (_database, store) = open();
    let subscriber = store
        .create(
            "MessageSubscriber",
            json!({"topic": "sensors/+/temperature", "callback": "recorder", "threshold": 30}),
        )
        .unwrap();
    assert_eq!(subscriber["clients"], json!([]));
    assert_eq!(subscriber["threshold"], 30);

    let expect = |props: Value, message: &str| {
        assert_eq!(
            invalid(store.create("MessageSubscriber", props.clone())),
            message,
            "{props}"
        );
    };
    expect(
        json!({"callback": "recorder"}),
        "MessageSubscriber.topic is required",
    );
    expect(
        json!({"topic": "a/#"}),
        "MessageSubscriber.callback is required",
    );
    let message = invalid(store.create(
        "MessageSubscriber",
        json!({"topic": "a+/b", "callback": "r"}),
    ));
    assert!(
        message.starts_with("MessageSubscriber.topic `a+/b`"),
        "{message}"
    );
    assert!(message.contains("whole level"), "{message}");
    let plugin = "MessageSubscriber.callback must be a plugin name of 1 to 64 letters, digits, `.`, `_` or `-`";
    for callback in ["", "../etc", "my plugin", &"p".repeat(65)] {
        expect(json!({"topic": "a", "callback": callback}), plugin);
    }
    expect(
        json!({"topic": "a", "callback": "r", "clients": "c1"}),
        "MessageSubscriber.clients must be a list, each element a client id string",
    );
    expect(
        json!({"topic": "a", "callback": "r", "clients": ["c1", 2]}),
        "MessageSubscriber.clients[1] must be a client id string",
    );
}

#[test]
fn failed_messages_and_user_types_take_any_properties() {
    let (_database, store) = open();
    let failed = store
        .create("FailedMessage", json!({"topic": 5, "attempts": "three"}))
        .unwrap();
    assert_eq!(failed["attempts"], "three");
    let order = store
        .create(
            "Order",
            json!({"password": "shown", "isConnected": true, "nested": {"a": [1]}}),
        )
        .unwrap();
    assert_eq!(order["password"], "shown");
    assert_eq!(order["isConnected"], true);
    assert_eq!(order["nested"], json!({"a": [1]}));
}
