//! Tenants on a real server: each tenant sees and changes only what it owns, through every
//! route (another tenant's ids answer 404); a hostile plugin built from source, given every
//! capability in its tenant, cannot reach another tenant's objects or clients; each quota
//! refuses what would pass it, naming it; and one tenant's flood of slow callbacks does not
//! hold up another tenant's recorder or lose anything.

use switchyard_test_support as support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::plugins::plugin;
use support::{Api, MqttPeer, Server};

/// Creates tenant `name` with `quotas` as the operator; returns an admin session of it.
async fn tenant(server: &Server, name: &str, quotas: Value) -> Api {
    let (status, body) = (server)
        .post("/api/tenants", json!({"name": name, "quotas": quotas}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    server.with_token(&token(server, name, "admin").await.0)
}

/// Issues a token of `role` in tenant `name`; returns it and its id.
async fn token(server: &Server, name: &str, role: &str) -> (String, String) {
    let path = format!("/api/tenants/{name}/tokens");
    let (status, body) = server.post(&path, json!({"role": role})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let text = |key: &str| body[key].as_str().unwrap().to_owned();
    (text("token"), text("id"))
}

fn id(object: &Value) -> String {
    object["id"].as_str().expect("an id").to_owned()
}

/// Asserts that `api` gets 404 for `method path`.
async fn not_found(api: &Api, method: Method, path: &str, body: Value) {
    let (status, answer) = api.call(method.clone(), path, Some(body)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
}

#[tokio::test]
async fn a_tenant_sees_and_changes_only_what_it_owns() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let acme = tenant(&server, "acme", json!({})).await;
    let globex = tenant(&server, "globex", json!({})).await;

    acme.upload("recorder", &plugin("recorder")).await;
    let client = (acme)
        .connected_client(json!({"name": "site", "mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    let subscriber = acme
        .create(
            "MessageSubscriber",
            json!({"topic": "acme/+", "callback": "recorder", "clients": [client], "maxAttempts": 1}),
        )
        .await;
    let order = id(&acme.create("Order", json!({"n": 1})).await);
    let (status, _) = (acme.call(Method::PUT, "/api/indexes/Order/n", None)).await;
    assert_eq!(status, StatusCode::CREATED);
    // A failed message of acme's: the recorder refuses what is not JSON.
    let device = acme.connect_device(server.mqtt, "acme-device", &[]).await;
    device.publish("acme/x", "not json").await;
    let failed = id(&acme.wait_for("FailedMessage", "", 1).await[0]);
    let (_, lines) = acme.get("/api/logs?plugin=recorder").await;
    assert!(
        (lines["result"].as_array().unwrap().iter()).any(|l| l["stream"] == "host"),
        "the failure is in acme's plugin log: {lines}"
    );

    // Every route globex could reach acme's things by answers 404.
    let subscriber = id(&subscriber);
    for (method, path, body) in [
        (
            Method::GET,
            format!("/api/objects/Order/{order}"),
            json!(null),
        ),
        (
            Method::PATCH,
            format!("/api/objects/Order/{order}"),
            json!({"n": 2}),
        ),
        (
            Method::PUT,
            format!("/api/objects/Order/{order}"),
            json!({"n": 2}),
        ),
        (
            Method::DELETE,
            format!("/api/objects/Order/{order}"),
            json!(null),
        ),
        (
            Method::GET,
            format!("/api/objects/MQTTClient/{client}"),
            json!(null),
        ),
        (
            Method::PATCH,
            format!("/api/objects/MQTTClient/{client}"),
            json!({"isEnabled": false}),
        ),
        (
            Method::DELETE,
            format!("/api/objects/MessageSubscriber/{subscriber}"),
            json!(null),
        ),
        (
            Method::GET,
            format!("/api/objects/FailedMessage/{failed}"),
            json!(null),
        ),
        (
            Method::POST,
            format!("/api/failed/{failed}/replay"),
            json!(null),
        ),
        (
            Method::POST,
            format!("/api/clients/{client}/publish"),
            json!({"topic": "t", "message": "m"}),
        ),
        (
            Method::POST,
            "/api/clients/site/publish".into(),
            json!({"topic": "t", "message": "m"}),
        ),
        (
            Method::POST,
            format!("/api/clients/{client}/subscribe"),
            json!({"topic": "#"}),
        ),
        (
            Method::POST,
            format!("/api/clients/{client}/unsubscribe"),
            json!({"topic": "#"}),
        ),
        (Method::GET, "/api/plugins/recorder".into(), json!(null)),
        (
            Method::PATCH,
            "/api/plugins/recorder".into(),
            json!({"limits": {"timeoutMs": 1}}),
        ),
        (Method::DELETE, "/api/plugins/recorder".into(), json!(null)),
        (Method::DELETE, "/api/indexes/Order/n".into(), json!(null)),
    ] {
        not_found(&globex, method, &path, body).await;
    }
    // Lists and bulk actions see none of it.
    for path in [
        "/api/objects/Order",
        "/api/objects/MQTTClient",
        "/api/plugins",
    ] {
        let (_, list) = globex.get(path).await;
        assert_eq!(list["total"], 0, "{path}: {list}");
    }
    let (_, replayed) = globex.post("/api/failed/replay", json!(null)).await;
    assert_eq!(replayed, json!({"replayed": 0, "failed": 0}));
    let (_, lines) = globex.get("/api/logs?plugin=recorder").await;
    assert_eq!(lines["total"], 0, "{lines}");
    let (_, indexes) = globex.get("/api/indexes").await;
    assert_eq!(indexes["total"], 0, "{indexes}");
    // Its subscribers may not name acme's client; its token may not name acme.
    let linked = json!({"topic": "#", "callback": "x", "clients": [client]});
    let (status, body) = globex.post("/api/objects/MessageSubscriber", linked).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not a client"),
        "{body}"
    );
    not_found(
        &globex.in_tenant("acme"),
        Method::GET,
        "/api/plugins",
        json!(null),
    )
    .await;
    // The operator's routes are not a tenant's.
    for path in ["/api/tenants", "/api/tenants/acme", "/metrics"] {
        let (status, _) = globex.get(path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }

    // The operator acts in a tenant it names, in the default tenant otherwise.
    let path = format!("/api/objects/Order/{order}");
    let (status, _) = server.in_tenant("acme").get(&path).await;
    assert_eq!(status, StatusCode::OK);
    not_found(&server, Method::GET, &path, json!(null)).await;
    not_found(
        &server.in_tenant("initech"),
        Method::GET,
        "/api/plugins",
        json!(null),
    )
    .await;

    // A viewer reads and queries, and changes nothing.
    let (viewer, viewer_id) = token(&server, "acme", "viewer").await;
    let viewer = server.with_token(&viewer);
    assert_eq!(viewer.get(&path).await.0, StatusCode::OK);
    let query = viewer.post("/api/objects/Order/query", json!({})).await;
    assert_eq!(query.0, StatusCode::OK);
    assert_eq!(
        viewer.patch(&path, json!({"n": 3})).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = viewer.try_upload("mine", &plugin("recorder")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let revoke = format!("/api/tenants/acme/tokens/{viewer_id}");
    assert_eq!(
        server.call(Method::DELETE, &revoke, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(viewer.get(&path).await.0, StatusCode::UNAUTHORIZED);

    // A token that expires is refused from then on.
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (status, body) = (server)
        .post(
            "/api/tenants/acme/tokens",
            json!({"role": "viewer", "expiresAt": soon.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let brief = server.with_token(body["token"].as_str().unwrap());
    assert_eq!(brief.get(&path).await.0, StatusCode::OK);
    support::eventually("the token to expire", Duration::from_secs(10), || async {
        (brief.get(&path).await.0 == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;

    // acme's things are as they were, and its recorder still runs.
    let (_, kept) = acme.get(&path).await;
    assert_eq!(kept["n"], 1);
    assert_eq!(acme.list("MessageSubscriber", "").await.len(), 1);
    let reading = json!({"sensorId": "a1", "value": 20}).to_string();
    let stored = ("TemperatureReading", "sensorId=a1");
    acme.publish_until_stored(&device, ("acme/r", &reading), stored)
        .await;

    // A tenant that holds something is deleted only when asked to take it along.
    let (status, body) = server.call(Method::DELETE, "/api/tenants/acme", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let force = "/api/tenants/acme?force=true";
    assert_eq!(
        server.call(Method::DELETE, force, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(acme.get("/api/plugins").await.0, StatusCode::UNAUTHORIZED);
    let again = tenant(&server, "acme", json!({})).await;
    let (_, orders) = again.get("/api/objects/Order").await;
    assert_eq!(orders["total"], 0, "a new acme starts empty: {orders}");
    assert_eq!(again.get("/api/plugins").await.1["total"], 0);
}

/// Sends `payload` to `attack/x` and returns the `Attempt` the hostile plugin recorded for it.
async fn attack(tenant: &Api, device: &MqttPeer, payload: &str) -> Value {
    let command = payload.split(' ').next().unwrap();
    let query = format!("command={command}");
    let before = tenant.list("Attempt", &query).await.len();
    device.publish("attack/x", payload).await;
    tenant
        .wait_for("Attempt", &query, before + 1)
        .await
        .pop()
        .unwrap()
}

#[tokio::test]
async fn a_hostile_plugin_with_every_capability_cannot_reach_another_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let acme = tenant(&server, "acme", json!({})).await;
    let globex = tenant(&server, "globex", json!({})).await;

    acme.upload("recorder", &plugin("recorder")).await;
    let acme_client = (acme)
        .connected_client(json!({"name": "main-a", "mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    let subscriber = acme
        .create(
            "MessageSubscriber",
            json!({"topic": "sensors/#", "callback": "recorder", "clients": [acme_client]}),
        )
        .await;
    let order = id(&acme.create("Order", json!({"n": 1})).await);

    globex.upload("hostile", &plugin("hostile")).await;
    let everything = json!({"capabilities": {
        "read": ["*", "MQTTClient", "MessageSubscriber", "FailedMessage"],
        "write": ["*"],
        "publish": [{"client": acme_client}, {"client": "main-a"}, {"client": "main-g"}],
        "subscribe": true,
    }});
    let (status, body) = globex.patch("/api/plugins/hostile", everything).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let globex_client = (globex)
        .connected_client(json!({"name": "main-g", "mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    globex
        .create(
            "MessageSubscriber",
            json!({"topic": "attack/#", "callback": "hostile", "clients": [globex_client], "maxAttempts": 1}),
        )
        .await;
    let mut device = (globex)
        .connect_device(server.mqtt, "globex-device", &["stolen/#"])
        .await;
    let stored = ("Attempt", "command=find-type");
    globex
        .publish_until_stored(&device, ("attack/x", "find-type Order"), stored)
        .await;

    let found = attack(&globex, &device, "find-type Order").await;
    assert_eq!(
        (found["outcome"].clone(), found["count"].clone()),
        (json!("ok"), json!(0)),
        "{found}"
    );
    for target in [&order, &acme_client, &id(&subscriber)] {
        let read = attack(&globex, &device, &format!("read-id {target}")).await;
        assert_eq!(read["detail"], "missing", "{read}");
    }
    for escape in ["acme/Order", "acme\u{0}Order", "../Order"] {
        let found = attack(&globex, &device, &format!("find-type {escape}")).await;
        assert_eq!(found["outcome"], "denied", "{found}");
    }
    let update = attack(&globex, &device, &format!("update-id {order}")).await;
    assert_eq!(update["outcome"], "not-found", "{update}");
    attack(
        &globex,
        &device,
        &format!("delete-subscriber {}", id(&subscriber)),
    )
    .await;
    for client in [acme_client.as_str(), "main-a"] {
        let publish = attack(&globex, &device, &format!("publish-to {client} stolen/x")).await;
        assert_ne!(publish["outcome"], "ok", "{publish}");
        let subscribe = attack(&globex, &device, &format!("subscribe {client} #")).await;
        assert_ne!(subscribe["outcome"], "ok", "{subscribe}");
    }
    // Its own client it may use: the device hears that, and nothing through acme's.
    let own = attack(&globex, &device, "publish-to main-g stolen/own").await;
    assert_eq!(own["outcome"], "ok", "{own}");
    let (topic, _) = device.next(Duration::from_secs(10)).await;
    assert_eq!(topic, "stolen/own");
    assert_eq!(
        device.nothing_within(Duration::from_millis(300)).await,
        None
    );

    // acme's objects are untouched and hold none of globex's.
    let (_, kept) = acme.get(&format!("/api/objects/Order/{order}")).await;
    assert_eq!(kept["n"], 1);
    assert!(kept.get("hijacked").is_none(), "{kept}");
    assert_eq!(acme.list("MessageSubscriber", "").await.len(), 1);
    assert!(acme.list("Attempt", "").await.is_empty());
    let reading = json!({"sensorId": "a1", "value": 20}).to_string();
    let stored = ("TemperatureReading", "sensorId=a1");
    let acme_device = acme.connect_device(server.mqtt, "acme-device", &[]).await;
    acme.publish_until_stored(&acme_device, ("sensors/a1", &reading), stored)
        .await;
    assert!(globex.list("TemperatureReading", "").await.is_empty());
}

/// The error of a refused request, which must be a 429 naming `quota`.
fn over(quota: &str, (status, body): (StatusCode, Value)) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(&format!("{quota} quota")),
        "`{quota}` not named: {body}"
    );
}

#[tokio::test]
async fn each_quota_refuses_what_would_pass_it_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let recorder = std::fs::metadata(plugin("recorder")).unwrap().len();
    let quotas = json!({
        "plugins": 1, "pluginBytes": recorder, "objects": 6, "storageMb": 1,
        "clients": 1, "subscribers": 1, "memoryMb": 8,
    });
    let acme = tenant(&server, "acme", quotas).await;

    let installed = acme.upload("recorder", &plugin("recorder")).await;
    assert_eq!(
        installed["limits"]["memoryMb"], 8,
        "cut to the tenant's ceiling"
    );
    over(
        "plugins",
        acme.try_upload("second", &plugin("recorder")).await,
    );
    over(
        "pluginBytes",
        acme.try_upload("recorder", &plugin("hostile")).await,
    );
    let greedy = json!({"limits": {"memoryMb": 16}});
    over(
        "memoryMb",
        acme.patch("/api/plugins/recorder", greedy).await,
    );

    let client = json!({"mainBrokerURL": "embedded"});
    let first = id(&acme.create("MQTTClient", client.clone()).await);
    over(
        "clients",
        acme.post("/api/objects/MQTTClient", client).await,
    );
    let subscriber = json!({"topic": "t/#", "callback": "recorder", "clients": [first]});
    acme.create("MessageSubscriber", subscriber.clone()).await;
    over(
        "subscribers",
        acme.post("/api/objects/MessageSubscriber", subscriber)
            .await,
    );

    // 2 objects so far; MiB-sized ones pass the storage quota before the count.
    let blob = json!({"data": "x".repeat(600 << 10)});
    acme.create("Blob", blob.clone()).await;
    over("storageMb", acme.post("/api/objects/Blob", blob).await);
    for n in 0..3 {
        acme.create("Order", json!({"n": n})).await;
    }
    over(
        "objects",
        acme.post("/api/objects/Order", json!({"n": 9})).await,
    );

    // The operator sees each quota beside what is used, and raising one lets more in.
    let (_, shown) = server.get("/api/tenants/acme").await;
    assert_eq!(
        shown["usage"]["objects"],
        json!({"used": 6, "limit": 6}),
        "{shown}"
    );
    assert_eq!(
        shown["usage"]["plugins"],
        json!({"used": 1, "limit": 1}),
        "{shown}"
    );
    assert_eq!(
        shown["usage"]["clients"],
        json!({"used": 1, "limit": 1}),
        "{shown}"
    );
    let raise = json!({"quotas": {"objects": 7, "memoryMb": null}});
    let (status, body) = server.patch("/api/tenants/acme", raise).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    acme.create("Order", json!({"n": 9})).await;
    let (_, info) = acme.get("/api/plugins/recorder").await;
    assert_eq!(
        info["limits"]["memoryMb"], 64,
        "the server's default, once the ceiling is gone"
    );
    // Other tenants are not held by acme's quotas.
    let globex = tenant(&server, "globex", json!({})).await;
    for n in 0..8 {
        globex.create("Order", json!({"n": n})).await;
    }
}

#[tokio::test]
async fn a_tenants_rate_slows_its_own_callbacks_and_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let acme = tenant(&server, "acme", json!({"invocationsPerSecond": 5})).await;
    acme.upload("recorder", &plugin("recorder")).await;
    let client = (acme)
        .connected_client(json!({"mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    let subscriber = json!({"topic": "r/+", "callback": "recorder", "clients": [client]});
    acme.create("MessageSubscriber", subscriber).await;
    let device = acme.connect_device(server.mqtt, "acme-device", &[]).await;
    let first = json!({"sensorId": "warm-up", "value": 1}).to_string();
    let stored = ("TemperatureReading", "sensorId=warm-up");
    acme.publish_until_stored(&device, ("r/0", &first), stored)
        .await;
    let warm_ups = acme.list("TemperatureReading", "").await.len();

    let started = Instant::now();
    for n in 0..20 {
        let reading = json!({"sensorId": format!("s{n}"), "value": n}).to_string();
        device.publish(&format!("r/{}", n % 4), reading).await;
    }
    acme.wait_for("TemperatureReading", "_limit=100", warm_ups + 20)
        .await;
    let took = started.elapsed();
    // At most a second's worth (5) go at once, the other 15 or more at 5 a second.
    assert!(
        took >= Duration::from_millis(2500),
        "20 callbacks at 5/s took {took:?}"
    );
}

/// The quiet tenant's recorder's p50, from a reading over its threshold to its alert, in ms.
async fn p50_ms(device: &mut MqttPeer, from: usize) -> f64 {
    let reading = |n| {
        let payload = json!({"sensorId": format!("q{n}"), "value": 99}).to_string();
        (format!("quiet/q{n}"), payload)
    };
    let alert = |n| format!("alerts/q{n}");
    device.p50_round_trip_ms((from, 25), reading, alert).await
}

#[tokio::test]
async fn a_noisy_tenant_does_not_hold_up_a_quiet_one() {
    let dir = tempfile::tempdir().unwrap();
    let options = support::Options {
        plugin_timeout_ms: 3000,
        env: vec![("SWITCHYARD_PLUGIN_INSTANCES", "16".into())],
        ..support::Options::default()
    };
    let server = Server::start_with(dir.path(), options).await;
    let quiet = tenant(&server, "quiet", json!({})).await;
    let noisy = tenant(&server, "noisy", json!({})).await;
    quiet.upload("recorder", &plugin("recorder")).await;
    let client = (quiet)
        .connected_client(json!({"mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    let subscriber = json!({"topic": "quiet/+", "callback": "recorder", "clients": [client]});
    quiet.create("MessageSubscriber", subscriber).await;
    noisy.upload("hostile", &plugin("hostile")).await;
    let client = (noisy)
        .connected_client(json!({"mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    // Unordered: every message takes an instance of its own, as many as the pool lets it.
    let subscriber = json!({"topic": "noisy/+", "callback": "hostile", "clients": [client],
        "ordered": false, "maxAttempts": 1});
    noisy.create("MessageSubscriber", subscriber).await;

    let mut device = (quiet)
        .connect_device(server.mqtt, "quiet-device", &["alerts/#"])
        .await;
    let first = json!({"sensorId": "w", "value": 1}).to_string();
    let stored = ("TemperatureReading", "sensorId=w");
    quiet
        .publish_until_stored(&device, ("quiet/w", &first), stored)
        .await;
    let baseline = p50_ms(&mut device, 0).await;

    // 64 callbacks that each sleep for a second, on a pool of 16 instances.
    let flood = noisy.connect_device(server.mqtt, "noisy-device", &[]).await;
    for n in 0..64 {
        flood.publish(&format!("noisy/{}", n % 8), "sleep 1").await;
    }
    let busy = p50_ms(&mut device, 100).await;
    eprintln!("quiet tenant's recorder p50: {baseline:.1} ms alone, {busy:.1} ms beside the flood");
    assert!(
        busy <= 2.0 * baseline.max(2.0),
        "the quiet tenant's p50 went from {baseline:.1} ms to {busy:.1} ms"
    );
    // The noisy tenant's callbacks all ran too, in their turn.
    let slept = noisy
        .wait_for("Attempt", "command=sleep&_limit=100", 64)
        .await;
    assert_eq!(slept.len(), 64);
    let readings = quiet.list("TemperatureReading", "_limit=1000").await;
    assert!(
        readings.len() >= 51,
        "every quiet reading stored: {}",
        readings.len()
    );
}
