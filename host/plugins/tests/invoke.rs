//! The registry and the sandbox together, with real plugins built from `plugins/`: uploads
//! are checked and survive a reload with their settings, an invocation's writes and publishes
//! come back uncommitted, failures leave nothing behind, and limits stop a runaway guest.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use switchyard_model::Kinds;
use switchyard_mqtt::MqttKind;
use switchyard_plugins::{BATCH_WORLD, LEGACY_WORLD, PluginError, Plugins, SettingsPatch};
use switchyard_runtime::{
    Capabilities, Effects, InvokeError, Limits, Message, PluginLimits, Runtime,
};
use switchyard_store::{Query, Store};
use switchyard_tenants::{DEFAULT_TENANT as D, Quotas, Tenants};
use switchyard_test_support::plugins;

fn store(dir: &std::path::Path) -> Store {
    Store::open(dir, Kinds::new(vec![Arc::new(MqttKind)])).unwrap()
}

/// The registry over `store`, as a restarted server opens it.
fn reopen(store: &Store, limits: Limits) -> Plugins {
    let tenants = Tenants::open(store, Quotas::default()).unwrap();
    Plugins::open(store, Runtime::new(limits).unwrap(), tenants).unwrap()
}

/// The registry with the test plugins installed.
fn registry(store: &Store, limits: Limits) -> Plugins {
    let registry = reopen(store, limits);
    for name in ["recorder", "chaos", "hostile", "legacy-v0"] {
        // Cargo names the file after the crate, with `_` for `-`.
        let bytes = std::fs::read(plugins::plugin(&name.replace('-', "_"))).unwrap();
        registry.install(D, name, &bytes).unwrap();
    }
    registry
}

/// Runs `plugin` on `message` over a fresh write set of `store`.
async fn invoke(
    registry: &Plugins,
    store: &Store,
    plugin: &str,
    message: Message,
) -> Result<Effects, InvokeError> {
    let loaded =
        (registry.get(D, plugin)).ok_or_else(|| InvokeError::NoSuchPlugin(plugin.into()))?;
    let run = registry
        .runtime()
        .invoke(&loaded.plugin, message, store.begin());
    run.await.map_err(|failure| failure.error)
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
async fn failure(registry: &Plugins, store: &Store, plugin: &str, payload: &str) -> InvokeError {
    match invoke(registry, store, plugin, message(store, payload)).await {
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
    let store = store(dir.path());
    let registry = registry(&store, Limits::default());
    let msg = message(&store, r#"{"sensorId":"t1","value":25}"#);
    let client = msg.client_id.clone();

    let effects = invoke(&registry, &store, "recorder", msg).await.unwrap();
    assert_eq!(
        count(&store, "TemperatureReading"),
        0,
        "writes visible before commit"
    );
    assert_eq!(effects.publishes.len(), 1);
    assert_eq!(effects.publishes[0].client.id, client);
    assert_eq!(effects.publishes[0].topic, "alerts/t1");
    effects.writes.commit().unwrap();
    assert_eq!(count(&store, "TemperatureReading"), 1);
}

#[tokio::test]
async fn failures_come_back_as_errors_and_the_next_message_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let limits = Limits {
        plugin: PluginLimits {
            timeout_ms: 300,
            memory_mb: 16,
            ..PluginLimits::default()
        },
        ..Limits::default()
    };
    let registry = registry(&store, limits);

    let err = failure(&registry, &store, "chaos", "fail").await;
    assert!(
        matches!(&err, InvokeError::Handler(m) if m.contains("asked to fail")),
        "{err}"
    );
    let err = failure(&registry, &store, "chaos", "trap").await;
    assert!(matches!(err, InvokeError::Trap(_)), "{err}");
    let err = failure(&registry, &store, "chaos", "loop").await;
    assert!(matches!(err, InvokeError::Timeout(300)), "{err}");
    let err = failure(&registry, &store, "chaos", "oom").await;
    assert!(
        matches!(err, InvokeError::OutOfMemory { limit_mb: 16, .. }),
        "{err}"
    );
    let err = failure(&registry, &store, "nope", "ok").await;
    assert!(matches!(err, InvokeError::NoSuchPlugin(_)), "{err}");

    let effects = invoke(&registry, &store, "chaos", message(&store, "readback"))
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
    let store = store(dir.path());
    let registry = registry(&store, Limits::default());

    let not_wasm = registry.install(D, "x", b"hello").unwrap_err();
    assert!(matches!(not_wasm, PluginError::NotWasm(_)), "{not_wasm}");
    let command = std::fs::read(plugins::plugin("not-a-plugin")).unwrap();
    let wrong = registry.install(D, "x", &command).unwrap_err();
    assert!(matches!(wrong, PluginError::WrongWorld(_)), "{wrong}");
    let bad_name = registry.install(D, "a/b", &command).unwrap_err();
    assert!(
        matches!(bad_name, PluginError::InvalidName(_)),
        "{bad_name}"
    );
    assert!(registry.info(D, "x").is_none());

    let info = registry.info(D, "recorder").unwrap();
    drop(registry);
    let reloaded = reopen(&store, Limits::default());
    assert_eq!(reloaded.info(D, "recorder").unwrap().sha256, info.sha256);
    let names: Vec<_> = reloaded.list(D).into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["chaos", "hostile", "legacy-v0", "recorder"]);
    assert!(reloaded.remove(D, "chaos").unwrap());
    assert!(!reloaded.remove(D, "chaos").unwrap());
}

/// Two registries over one store stand for two instances over one shared store: a plugin one
/// of them stores is there for the other's next message before the other hears of it.
#[tokio::test]
async fn a_plugin_another_instance_stored_loads_on_its_first_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let here = reopen(&store, Limits::default());
    let there = registry(&store, Limits::default());
    assert!(here.get(D, "recorder").is_none(), "not heard of yet");

    let loaded = here
        .get_or_load(D, "recorder")
        .unwrap()
        .expect("loaded from the store");
    assert_eq!(
        loaded.info.sha256,
        there.info(D, "recorder").unwrap().sha256
    );
    let reading = message(&store, r#"{"sensorId":"t1","value":25}"#);
    let run = (here.runtime()).invoke(&loaded.plugin, reading, store.begin());
    let effects = run.await.map_err(|failure| failure.error).unwrap();
    effects.writes.commit().unwrap();
    assert_eq!(count(&store, "TemperatureReading"), 1);
    assert!(here.get_or_load(D, "nothing-stored").unwrap().is_none());
}

#[tokio::test]
async fn plugins_built_against_0_1_0_still_load_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let registry = registry(&store, Limits::default());
    assert_eq!(registry.info(D, "legacy-v0").unwrap().world, LEGACY_WORLD);
    assert_eq!(registry.info(D, "recorder").unwrap().world, BATCH_WORLD);

    let effects = invoke(&registry, &store, "legacy-v0", message(&store, "hello"))
        .await
        .unwrap();
    effects.writes.commit().unwrap();
    let record = store.query("LegacyRecord", &Query::default()).unwrap();
    let record = &record.result[0];
    assert_eq!(record["payload"], "hello");
    // 0.1.0 has no `denied` case: the refusal arrives as `other`, saying what it is.
    assert_eq!(record["evil"], "other", "{record:?}");
    let error = record["evilError"].as_str().unwrap();
    assert!(
        error.starts_with("denied: MQTTClient is a built-in type"),
        "{error}"
    );
}

#[tokio::test]
async fn invocations_beyond_the_instance_pool_wait_for_a_slot() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let limits = Limits {
        plugin: PluginLimits {
            timeout_ms: 200,
            ..PluginLimits::default()
        },
        max_instances: 2,
        ..Limits::default()
    };
    let registry = registry(&store, limits);
    let started = std::time::Instant::now();
    let runs: Vec<_> = (0..6)
        .map(|_| {
            let (registry, store) = (registry.clone(), store.clone());
            let message = message(&store, "loop");
            tokio::spawn(async move { invoke(&registry, &store, "chaos", message).await })
        })
        .collect();
    for run in runs {
        let err = run.await.unwrap().err().expect("a loop cannot succeed");
        // Every one ran to its deadline: none failed to get an instance.
        assert!(matches!(err, InvokeError::Timeout(200)), "{err}");
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(600),
        "6 runs on 2 slots took {took:?}"
    );
}

#[tokio::test]
async fn settings_survive_a_reupload_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let registry = registry(&store, Limits::default());
    let capabilities: Capabilities =
        serde_json::from_value(json!({"read": ["Reading"], "subscribe": false})).unwrap();
    let patch = SettingsPatch {
        capabilities: Some(capabilities.clone()),
        limits: json!({"timeoutMs": 250, "publishes": 5})
            .as_object()
            .cloned(),
    };
    let info = registry.configure(D, "recorder", patch).unwrap();
    assert_eq!((info.limits.timeout_ms, info.limits.publishes), (250, 5));
    assert_eq!(info.limits.host_calls, PluginLimits::default().host_calls);

    let bytes = std::fs::read(plugins::plugin("recorder")).unwrap();
    registry.install(D, "recorder", &bytes).unwrap();
    drop(registry);
    let reloaded = reopen(&store, Limits::default());
    let info = reloaded.info(D, "recorder").unwrap();
    assert_eq!(info.capabilities, capabilities);
    assert_eq!(info.limits.timeout_ms, 250);

    let refused = |patch: Value| {
        let patch: SettingsPatch = serde_json::from_value(patch).unwrap();
        reloaded
            .configure(D, "recorder", patch)
            .unwrap_err()
            .to_string()
    };
    let error = refused(json!({"capabilities": {"write": ["MessageSubscriber"]}}));
    assert!(error.contains("built-in"), "{error}");
    let error = refused(json!({"limits": {"memoryMb": 100000}}));
    assert!(
        error.contains("`memoryMb` must be between 1 and 256"),
        "{error}"
    );
    assert_eq!(reloaded.info(D, "recorder").unwrap().limits.timeout_ms, 250);
}

#[tokio::test]
async fn each_tenant_has_its_own_plugins_within_its_quotas() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let tenants = Tenants::open(&store, Quotas::default()).unwrap();
    let registry = Plugins::open(
        &store,
        Runtime::new(Limits::default()).unwrap(),
        tenants.clone(),
    );
    let registry = registry.unwrap();
    let recorder = std::fs::read(plugins::plugin("recorder")).unwrap();
    let chaos = std::fs::read(plugins::plugin("chaos")).unwrap();
    let quotas = Quotas {
        plugins: Some(1),
        plugin_bytes: Some(recorder.len().max(chaos.len()) as u64),
        memory_mb: Some(32),
        ..Quotas::default()
    };
    tenants.create("acme", quotas).unwrap();
    registry.install(D, "shared-name", &chaos).unwrap();
    registry.install("acme", "shared-name", &recorder).unwrap();
    let (ours, theirs) = (
        registry.info("acme", "shared-name").unwrap(),
        registry.info(D, "shared-name").unwrap(),
    );
    assert_ne!(
        ours.sha256, theirs.sha256,
        "one name, two tenants, two plugins"
    );
    assert_eq!(
        ours.limits.memory_mb, 32,
        "the default 64 MiB is cut to the tenant's 32"
    );
    assert!(registry.get("acme", "shared-name").is_some());
    assert!(registry.get("nobody", "shared-name").is_none());

    let second = registry.install("acme", "another", &recorder).unwrap_err();
    assert!(matches!(second, PluginError::Quota(_)), "{second}");
    assert!(second.to_string().starts_with("plugins quota"), "{second}");
    let mut big = recorder.clone();
    big.resize(recorder.len().max(chaos.len()) + 1, 0);
    let too_big = registry.install("acme", "shared-name", &big).unwrap_err();
    assert!(
        too_big.to_string().starts_with("pluginBytes quota"),
        "{too_big}"
    );
    let patch: SettingsPatch = serde_json::from_value(json!({"limits": {"memoryMb": 48}})).unwrap();
    let greedy = registry
        .configure("acme", "shared-name", patch)
        .unwrap_err();
    assert!(greedy.to_string().starts_with("memoryMb quota"), "{greedy}");
    registry.install("acme", "shared-name", &chaos).unwrap();

    assert!(registry.remove("acme", "shared-name").unwrap());
    assert!(
        registry.info(D, "shared-name").is_some(),
        "the other tenant's stays"
    );
    let reloaded = reopen(&store, Limits::default());
    assert!(reloaded.list("acme").is_empty());
    assert_eq!(reloaded.list(D).len(), 1);
}

#[tokio::test]
async fn plugins_stored_before_tenants_load_into_the_default_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let bytes = std::fs::read(plugins::plugin("recorder")).unwrap();
    let installed = registry(&store, Limits::default())
        .info(D, "recorder")
        .unwrap();
    // The keys as a server before tenants wrote them.
    let space = store.space("plugins");
    let meta = serde_json::to_vec(&installed).unwrap();
    space
        .write(&[
            ("meta/old-one", Some(&meta)),
            ("wasm/old-one", Some(&bytes)),
        ])
        .unwrap();
    let reloaded = reopen(&store, Limits::default());
    assert_eq!(
        reloaded.info(D, "old-one").unwrap().sha256,
        installed.sha256
    );
    assert!(reloaded.info(D, "recorder").is_some());
    assert!(space.get("meta/old-one").unwrap().is_none(), "moved");
    assert!(space.get(&format!("wasm/{D}/old-one")).unwrap().is_some());
}
