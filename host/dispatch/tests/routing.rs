//! Routing follows the subscribers as they are stored at the moment a message is dispatched:
//! a created, edited or deleted subscriber applies to the very next message, although the
//! dispatcher keeps its routes in memory between changes.

use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_broker::{Incoming, Outcome};
use switchyard_dispatch::{Dispatcher, NativeCallback};
use switchyard_runtime::{Effects, Message};
use switchyard_store::{Query, Store};

/// Stores the topic of every message it gets.
struct Recorder;

impl NativeCallback for Recorder {
    fn handle(&self, message: &Message, effects: &mut Effects) -> Result<(), String> {
        let seen = json!({"topic": message.topic, "subscriber": message.subscriber_id});
        effects
            .writes
            .create("Seen", seen)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

fn seen(store: &Store) -> Vec<String> {
    let page = store.query("Seen", &Query::default()).unwrap();
    page.result
        .iter()
        .map(|o| o["topic"].as_str().unwrap().to_owned())
        .collect()
}

async fn dispatch(dispatcher: &Dispatcher, client: &str, topic: &str) -> Outcome {
    let incoming = Incoming {
        client_id: client.into(),
        topic: topic.into(),
        payload: b"x".to_vec(),
        ..Incoming::default()
    };
    dispatcher.dispatch(incoming).await
}

#[tokio::test]
async fn subscriber_changes_apply_to_the_next_message() {
    let dir = tempfile::tempdir().unwrap();
    let switchyard = switchyard::Builder::new(dir.path())
        .native("recorder", Arc::new(Recorder))
        .build()
        .unwrap();
    let (store, dispatcher) = (&switchyard.store, &switchyard.dispatcher);
    let client = store
        .create("MQTTClient", json!({"mainBrokerURL": "embedded"}))
        .unwrap();
    let client = client["id"].as_str().unwrap().to_owned();

    assert!(matches!(
        dispatch(dispatcher, &client, "a/1").await,
        Outcome::Done
    ));
    assert!(seen(store).is_empty(), "no subscriber yet");

    let subscriber = json!({"topic": "a/+", "callback": "recorder", "clients": [client]});
    let subscriber = store.create("MessageSubscriber", subscriber).unwrap();
    let id = subscriber["id"].as_str().unwrap().to_owned();
    dispatch(dispatcher, &client, "a/1").await;
    assert_eq!(seen(store), ["a/1"]);

    store.update(&id, json!({"topic": "b/#"})).unwrap();
    dispatch(dispatcher, &client, "a/2").await;
    dispatch(dispatcher, &client, "b/2").await;
    assert_eq!(seen(store), ["a/1", "b/2"]);

    store.update(&id, json!({"clients": []})).unwrap();
    dispatch(dispatcher, &client, "b/3").await;
    store.update(&id, json!({"clients": [client]})).unwrap();
    dispatch(dispatcher, &client, "b/4").await;
    store.delete(&id).unwrap();
    dispatch(dispatcher, &client, "b/5").await;
    let topics = seen(store);
    assert_eq!(
        topics,
        ["a/1", "b/2", "b/4"],
        "{:?}",
        Value::from(topics.clone())
    );
}
