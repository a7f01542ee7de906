//! A data directory written by the versions that kept everything in sled (the fixture in
//! `tests/fixtures/sled-data`, see its README) opens with everything in place: objects with
//! their secrets, the declared index, plugin uploads, settings and the retry queue.

use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_model::{ClientKind, Kinds, Object};
use switchyard_store::{Query, Store};
use switchyard_test_support::{copy_dir, fixture};

/// Just enough of `MQTTClient` for the store to treat the fixture's client as a client.
struct Mqtt;

impl ClientKind for Mqtt {
    fn type_name(&self) -> &'static str {
        "MQTTClient"
    }
    fn short_name(&self) -> &'static str {
        "mqtt"
    }
    fn broker_property(&self) -> &'static str {
        "mainBrokerURL"
    }
    fn example(&self) -> Value {
        Value::Null
    }
    fn apply_defaults(&self, _object: &mut Object) {}
    fn validate(&self, _object: &Object) -> Result<(), String> {
        Ok(())
    }
    fn check_topic(&self, _topic: &str) -> Result<(), String> {
        Ok(())
    }
    fn check_filter(&self, _filter: &str) -> Result<(), String> {
        Ok(())
    }
    fn message_size(&self, _topic: &str, payload: usize) -> (usize, usize, &'static str) {
        (payload, usize::MAX, "message")
    }
}

fn names(store: &Store, type_name: &str) -> Vec<String> {
    let page = store.query(type_name, &Query::default()).unwrap();
    let name = |o: &Object| o["name"].as_str().unwrap_or_default().to_owned();
    page.result.iter().map(name).collect()
}

#[test]
fn a_sled_data_directory_is_imported_once_with_everything_in_it() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("sled-data"), dir.path());
    let kinds = || Kinds::new(vec![Arc::new(Mqtt)]);
    for opening in ["first", "second"] {
        let store = Store::open(dir.path(), kinds()).unwrap();
        assert_eq!(names(&store, "MQTTClient"), ["site"], "{opening}");
        assert_eq!(
            names(&store, "MessageSubscriber"),
            ["temperatures", "flaky"]
        );
        let client = &store.query("MQTTClient", &Query::default()).unwrap().result[0];
        assert!(
            !client.contains_key("password"),
            "the password stays a secret"
        );
        let id = client["id"].as_str().unwrap();
        let secret = store.get_with_secrets(id).unwrap().unwrap();
        assert_eq!(secret["password"], "hunter2");

        assert_eq!(
            store.indexes(),
            [("TemperatureReading".to_owned(), "sensorId".to_owned())]
        );
        let t2 = Query::from_json(&json!({"sensorId": "t2"})).unwrap();
        let readings = store.query("TemperatureReading", &t2).unwrap();
        assert_eq!(
            (readings.total, &readings.result[0]["value"]),
            (1, &json!(22.5))
        );
        let all = store
            .query("TemperatureReading", &Query::default())
            .unwrap();
        assert_eq!(all.total, 3);

        let plugins = store.space("plugins");
        let keys: Vec<String> = (plugins.list("").unwrap().into_iter())
            .map(|(key, _)| key)
            .collect();
        assert_eq!(
            keys,
            ["meta/chaos", "meta/recorder", "wasm/chaos", "wasm/recorder"],
            "uploads and settings, without the compiled code of the old engine"
        );
        let recorder = plugins.get("wasm/recorder").unwrap().unwrap();
        assert!(recorder.starts_with(b"\0asm"));
        let hash = store.space("settings").get("api-token-sha256").unwrap();
        assert_eq!(hash.map(|h| h.len()), Some(32));

        let retry = store
            .queue("retries")
            .first()
            .unwrap()
            .expect("the queued retry");
        let record: Value = serde_json::from_slice(&retry.record).unwrap();
        assert_eq!(
            (&record["topic"], &record["payload"]),
            (&json!("flaky/1"), &json!("fail"))
        );
    }
}
