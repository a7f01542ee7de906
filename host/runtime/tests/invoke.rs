//! The runtime on its own, with real plugins built from `plugins/`: an invocation's writes
//! and publishes come back uncommitted, failures leave nothing behind, and limits stop a
//! runaway guest.

#[path = "../../../tests/support/plugins.rs"]
mod plugins;

use serde_json::json;
use std::time::Duration;
use switchyard_runtime::{InvokeError, Limits, Message, PluginError, Runtime};
use switchyard_store::{Query, Store};

fn runtime(store: &Store, limits: Limits) -> Runtime {
    let runtime = Runtime::new(store.clone(), limits).unwrap();
    for name in ["recorder", "chaos"] {
        let bytes = std::fs::read(plugins::plugin(name)).unwrap();
        runtime.install(name, &bytes).unwrap();
    }
    runtime
}

fn message(store: &Store, payload: &str) -> Message {
    let client = store
        .create(
            "MQTTClient",
            json!({"name": "c", "mainBrokerURL": "embedded"}),
        )
        .unwrap();
    let subscriber = store
        .create(
            "MessageSubscriber",
            json!({"topic": "#", "callback": "x", "threshold": 20}),
        )
        .unwrap();
    Message {
        topic: "sensors/t1/temperature".into(),
        payload: payload.as_bytes().to_vec(),
        client_id: client["id"].as_str().unwrap().into(),
        subscriber_id: subscriber["id"].as_str().unwrap().into(),
        timestamp_ms: 1,
        ..Message::default()
    }
}

/// Runs `plugin` on `payload`, expecting the invocation to fail.
async fn failure(runtime: &Runtime, store: &Store, plugin: &str, payload: &str) -> InvokeError {
    match runtime.invoke(plugin, message(store, payload)).await {
        Ok(_) => panic!("`{payload}` on {plugin} succeeded"),
        Err(err) => err,
    }
}

fn count(store: &Store, type_name: &str) -> usize {
    store.query(type_name, &Query::default()).unwrap().total
}

#[tokio::test]
async fn effects_are_returned_uncommitted_and_commit_together() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let runtime = runtime(&store, Limits::default());
    let msg = message(&store, r#"{"sensorId":"t1","value":25}"#);
    let client = msg.client_id.clone();

    let effects = runtime.invoke("recorder", msg).await.unwrap();
    assert_eq!(
        count(&store, "TemperatureReading"),
        0,
        "writes visible before commit"
    );
    assert_eq!(effects.publishes.len(), 1);
    assert_eq!(effects.publishes[0].client_id, client);
    assert_eq!(effects.publishes[0].topic, "alerts/t1");
    effects.writes.commit().unwrap();
    assert_eq!(count(&store, "TemperatureReading"), 1);
}

#[tokio::test]
async fn failures_come_back_as_errors_and_the_next_message_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let limits = Limits {
        timeout: Duration::from_millis(300),
        memory_bytes: 16 << 20,
        ..Limits::default()
    };
    let runtime = runtime(&store, limits);

    let err = failure(&runtime, &store, "chaos", "fail").await;
    assert!(
        matches!(&err, InvokeError::Handler(m) if m.contains("asked to fail")),
        "{err}"
    );
    let err = failure(&runtime, &store, "chaos", "trap").await;
    assert!(matches!(err, InvokeError::Trap(_)), "{err}");
    let err = failure(&runtime, &store, "chaos", "loop").await;
    assert!(matches!(err, InvokeError::Timeout(300)), "{err}");
    let err = failure(&runtime, &store, "chaos", "oom").await;
    assert!(matches!(err, InvokeError::Trap(_)), "{err}");
    let err = failure(&runtime, &store, "nope", "ok").await;
    assert!(matches!(err, InvokeError::NoSuchPlugin(_)), "{err}");

    let effects = runtime
        .invoke("chaos", message(&store, "readback"))
        .await
        .unwrap();
    effects.writes.commit().unwrap();
    assert_eq!(
        count(&store, "ChaosRecord"),
        0,
        "failed invocations left writes behind"
    );
}

#[tokio::test]
async fn uploads_are_validated_and_survive_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let runtime = runtime(&store, Limits::default());

    let not_wasm = runtime.install("x", b"hello").unwrap_err();
    assert!(matches!(not_wasm, PluginError::NotWasm(_)), "{not_wasm}");
    let command = std::fs::read(plugins::plugin("not-a-plugin")).unwrap();
    let wrong = runtime.install("x", &command).unwrap_err();
    assert!(matches!(wrong, PluginError::WrongWorld(_)), "{wrong}");
    let bad_name = runtime.install("a/b", &command).unwrap_err();
    assert!(
        matches!(bad_name, PluginError::InvalidName(_)),
        "{bad_name}"
    );
    assert!(runtime.info("x").is_none());

    let info = runtime.info("recorder").unwrap();
    drop(runtime);
    let reloaded = Runtime::new(store.clone(), Limits::default()).unwrap();
    assert_eq!(reloaded.info("recorder").unwrap().sha256, info.sha256);
    let names: Vec<_> = reloaded.list().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["chaos", "recorder"]);
    assert!(reloaded.remove("chaos").unwrap());
    assert!(!reloaded.remove("chaos").unwrap());
}
