//! Data over MQTT with a real MQTTSpec-style client: Python's paho-mqtt publishing MQTTSpec's
//! JSON envelope to `spec/{client_id}/request` and reading `spec/{client_id}/response`, on the
//! embedded broker with device credentials (create, read one, read filtered and sorted with
//! totals, a stale update refused, update, delete, meta; malformed requests; a built-in type
//! and a type outside the device's lists refused; another device's client id not served; live
//! change subscriptions fed by REST, MQTT and a plugin), and through Mosquitto, whose own ACL
//! is the guard there. Lifecycle hooks built from source (`plugins/guard` in Rust,
//! `plugins/guard-as` in AssemblyScript) rule requests over MQTT and REST and devices
//! connecting: they inject a filter, change data, refuse a delete, audit, and deny when they
//! trap. The same changes stream to browsers and scripts as server-sent events, resumed with
//! `Last-Event-ID`.

use switchyard_test_support as support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use support::clients::printed;
use support::mosquitto::{self, Mosquitto};
use support::plugins::root;
use support::{Api, Options, Server, eventually};

/// Connects as a client and runs its steps: `{"send": request}` publishes to
/// `<prefix>/<to>/request` (`to` defaults to its own client id) and waits for the response
/// with the request's id (unless `"wait": false`; `{sub:N}` in a request stands for the
/// subscription id answered to the N-th request); `{"rest": [method, path, body]}` calls the
/// REST API; `{"publish": [topic, payload]}` publishes at QoS 1; `{"notifications": n}` waits
/// until `n` notifications arrived on `<prefix>/<client id>/notify/+`. Prints
/// `{"responses": [...], "notifications": [...]}`, a response `null` where none came.
const CLIENT: &str = r#"
import json, sys, threading, urllib.request
import paho.mqtt.client as mqtt

port, username, password, client_id, prefix, api, token, steps = sys.argv[1:9]
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
if username:
    client.username_pw_set(username, password)
responses, notifications, arrived = {}, [], threading.Condition()
def on_message(client, userdata, message):
    body = json.loads(message.payload)
    with arrived:
        if body.get("type") == "notification":
            notifications.append(body)
        else:
            responses[body.get("id")] = body
        arrived.notify_all()
connected, subscribed = threading.Event(), threading.Event()
client.on_connect = lambda *args: connected.set()
client.on_subscribe = lambda *args: subscribed.set()
client.on_message = on_message
client.connect("127.0.0.1", int(port))
client.loop_start()
if not connected.wait(10):
    sys.exit("no CONNACK")
client.subscribe([(f"{prefix}/{client_id}/response", 1), (f"{prefix}/{client_id}/notify/+", 1)])
if not subscribed.wait(10):
    sys.exit("no SUBACK")
out = []
for step in json.loads(steps):
    if "rest" in step:
        method, path, body = step["rest"]
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(api + path, data=data, method=method, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-Tenant": "acme"})
        urllib.request.urlopen(request).read()
        continue
    if "publish" in step:
        topic, payload = step["publish"]
        client.publish(topic, payload, qos=1).wait_for_publish(10)
        continue
    if "notifications" in step:
        with arrived:
            arrived.wait_for(lambda: len(notifications) >= step["notifications"], timeout=10)
        continue
    request = step["send"]
    payload = request if isinstance(request, str) else json.dumps(request)
    # "{sub:N}" stands for the subscription id answered to the N-th request sent.
    for i, answered in enumerate(out):
        if answered and isinstance(answered.get("data"), dict):
            payload = payload.replace("{sub:%d}" % i, str(answered["data"].get("subscription_id")))
    topic = f"{prefix}/{step.get('to', client_id)}/request"
    client.publish(topic, payload, qos=1).wait_for_publish(10)
    if not step.get("wait", True):
        out.append(None)
        continue
    with arrived:
        arrived.wait_for(lambda: request["id"] in responses, timeout=10)
    out.append(responses.get(request["id"]))
with arrived:
    print(json.dumps({"responses": out, "notifications": notifications}))
"#;

/// One MQTT session of [`CLIENT`].
struct Session<'a> {
    port: u16,
    login: Option<(&'a str, &'a str)>,
    client_id: &'a str,
    prefix: &'a str,
    /// The REST API's address and token, for `rest` steps.
    api: (String, String),
}

impl Session<'_> {
    /// Runs `steps`; the responses and notifications that came.
    fn converse(&self, steps: Value) -> (Vec<Value>, Vec<Value>) {
        let (username, password) = self.login.unwrap_or_default();
        let (api, token) = &self.api;
        let ran = Command::new("python3")
            .arg("-c")
            .arg(CLIENT)
            .args([&self.port.to_string(), username, password, self.client_id])
            .args([self.prefix, api, token, &steps.to_string()])
            .env("PYTHONPATH", root().join(".tools/python"))
            .output()
            .expect("running python3");
        assert!(ran.status.success(), "{}", printed(&ran));
        let mut printed: Value = serde_json::from_slice(&ran.stdout).expect("JSON out");
        let list = |value: &mut Value| value.as_array_mut().map(std::mem::take).unwrap_or_default();
        (
            list(&mut printed["responses"]),
            list(&mut printed["notifications"]),
        )
    }

    /// Runs `steps`; the responses.
    fn run(&self, steps: Value) -> Vec<Value> {
        self.converse(steps).0
    }

    /// Sends one request and returns its response.
    fn ask(&self, request: Value) -> Value {
        self.run(json!([{ "send": request }])).remove(0)
    }
}

/// A device that may use `spec/<its client id>/...` and publish to `sensors/#`, reading and
/// writing the types given.
async fn device(api: &Api, username: &str, read: Value, write: Value) {
    let filters = format!("spec/{username}/#");
    let device = json!({
        "username": username, "password": format!("{username}-password"),
        "publish": ["spec/+/request", "sensors/#"], "subscribe": [filters],
        "read": read, "write": write,
    });
    api.create("MQTTDevice", device).await;
}

/// A server whose embedded broker requires credentials, with tenant `acme` serving Data over
/// MQTT on `spec` through an embedded client; the operator acting in acme.
async fn acme_serving(dir: &std::path::Path) -> (Server, Api) {
    let options = Options {
        env: vec![("SWITCHYARD_MQTT_AUTH", "required".to_owned())],
        ..Options::default()
    };
    let server = Server::start_with(dir, options).await;
    let (status, body) = server.post("/api/tenants", json!({"name": "acme"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let acme = server.in_tenant("acme");
    let client =
        json!({"mainBrokerURL": "embedded", "specPrefix": "spec", "qos": 1, "isEnabled": true});
    acme.create("MQTTClient", client).await;
    (server, acme)
}

fn error_code(response: &Value) -> &str {
    assert_eq!(response["success"], false, "{response}");
    response["error"]["code"].as_str().unwrap_or_default()
}

fn ok(response: &Value) -> &Value {
    assert_eq!(response["success"], true, "{response}");
    assert_eq!(response["type"], "response", "{response}");
    &response["data"]
}

#[tokio::test]
async fn a_device_keeps_records_over_mqtt_on_the_embedded_broker() {
    let dir = tempfile::tempdir().unwrap();
    let (server, acme) = acme_serving(dir.path()).await;
    device(&acme, "app-1", json!(["Order"]), json!(["Order"])).await;
    device(&acme, "viewer", json!(["Order"]), json!([])).await;
    let (app_password, viewer_password) = ("app-1-password", "viewer-password");
    let session = |client_id, password| Session {
        port: server.mqtt.port(),
        login: Some((client_id, password)),
        client_id,
        prefix: "spec",
        api: (format!("http://{}", server.http), server.token.clone()),
    };
    let (app, viewer) = (
        session("app-1", app_password),
        session("viewer", viewer_password),
    );
    let from_rest = acme
        .create("Order", json!({"item": "nut", "qty": 1, "status": "open"}))
        .await;

    // Create, as MQTTSpec's README does; the client may still be subscribing at first.
    let created = eventually(
        "the first create answered",
        Duration::from_secs(20),
        || async {
            let response = app.run(
                json!([{"send": {"id": "c1", "type": "request", "operation": "create",
            "schema": "public", "entity": "Order",
            "data": {"item": "bolt", "qty": 5, "status": "open"}}}]),
            );
            response[0].is_object().then(|| response[0].clone())
        },
    )
    .await;
    let bolt = ok(&created).clone();
    assert_eq!(
        (bolt["item"].clone(), bolt["version"].clone()),
        (json!("bolt"), json!(1))
    );
    let stored = acme
        .get(&format!(
            "/api/objects/Order/{}",
            bolt["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(stored.1["qty"], 5, "the create is an object for REST too");

    let create = |id: &str, item: &str, qty: u64, status: &str| {
        json!({"send": {"id": id, "type": "request", "operation": "create", "entity": "Order",
               "data": {"item": item, "qty": qty, "status": status}}})
    };
    let read_id = from_rest["id"].as_str().unwrap();
    let responses = app.run(json!([
        create("c2", "washer", 9, "open"),
        create("c3", "screw", 3, "closed"),
        {"send": {"id": "r1", "type": "request", "operation": "read", "entity": "Order", "record_id": read_id}},
        {"send": {"id": "r2", "type": "request", "operation": "read", "entity": "Order", "data": {"id": read_id}}},
        {"send": {"id": "r3", "type": "request", "operation": "read", "entity": "Order", "options": {
            "filters": [{"column": "status", "operator": "eq", "value": "open"}],
            "sort": [{"column": "qty", "direction": "desc"}], "limit": 2}}},
        {"send": {"id": "r4", "type": "request", "operation": "read", "entity": "Order", "options": {
            "filters": [{"column": "item", "operator": "like", "value": "%sh%"}]}}},
        {"send": {"id": "missing", "type": "request", "operation": "read", "entity": "Order", "record_id": "nope"}},
    ]));
    assert_eq!(ok(&responses[2])["item"], "nut", "read by record_id");
    assert_eq!(ok(&responses[3])["item"], "nut", "read by data.id");
    let open = ok(&responses[4]).as_array().unwrap();
    let items: Vec<&Value> = open.iter().map(|order| &order["item"]).collect();
    assert_eq!(
        items,
        ["washer", "bolt"],
        "open orders by qty, largest first, two of them"
    );
    assert_eq!(responses[4]["metadata"], json!({"total": 3, "count": 2}));
    assert_eq!(ok(&responses[5])[0]["item"], "washer");
    assert_eq!(error_code(&responses[6]), "not_found");

    // Update: a stale version is a conflict; the current one merges.
    let id = bolt["id"].as_str().unwrap();
    let update = |request_id: &str, version: u64, qty: u64| {
        json!({"send": {"id": request_id, "type": "request", "operation": "update", "entity": "Order",
               "data": {"id": id, "version": version, "qty": qty}}})
    };
    let responses = app.run(json!([update("u1", 7, 6), update("u2", 1, 6)]));
    assert_eq!(error_code(&responses[0]), "conflict");
    let updated = ok(&responses[1]);
    assert_eq!(
        (updated["qty"].clone(), updated["item"].clone()),
        (json!(6), json!("bolt"))
    );
    assert_eq!(updated["version"], 2);

    // Delete, then it is gone; meta names the properties and the declared index.
    let (status, body) = (acme)
        .call(reqwest::Method::PUT, "/api/indexes/Order/status", None)
        .await;
    assert!(status.is_success(), "{body}");
    let responses = app.run(json!([
        {"send": {"id": "d1", "type": "request", "operation": "delete", "entity": "Order", "record_id": id}},
        {"send": {"id": "d2", "type": "request", "operation": "read", "entity": "Order", "record_id": id}},
        {"send": {"id": "m1", "type": "request", "operation": "meta", "entity": "Order"}},
    ]));
    assert_eq!(ok(&responses[0]), &json!({ "id": id }));
    assert_eq!(error_code(&responses[1]), "not_found");
    let meta = ok(&responses[2]);
    assert_eq!(meta["indexes"], json!(["status"]), "{meta}");
    for property in ["item", "qty", "status", "id", "version"] {
        assert!(
            meta["properties"]
                .as_array()
                .unwrap()
                .contains(&json!(property)),
            "{meta}"
        );
    }

    // Malformed requests: the ones with an id are answered with what is wrong; one without
    // is only logged; the client goes on serving.
    let responses = app.run(json!([
        {"send": "not json at all", "wait": false},
        {"send": {"id": "x1", "type": "request", "operation": "drop", "entity": "Order"}},
        {"send": {"id": "x2", "type": "request", "operation": "read", "entity": "Order",
                  "options": {"filters": [{"column": "qty", "operator": "like", "value": 5}]}}},
        {"send": {"id": "x3", "type": "request", "operation": "create", "entity": "Order", "data": [1]}},
        {"send": {"id": "x4", "type": "request", "operation": "read", "entity": "MQTTClient"}},
        {"send": {"id": "x5", "type": "request", "operation": "read", "entity": "Invoice"}},
        {"send": {"id": "x6", "type": "request", "operation": "read", "entity": "../Order"}},
    ]));
    assert_eq!(error_code(&responses[1]), "invalid_message");
    assert!(
        responses[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`drop`")
    );
    assert_eq!(error_code(&responses[2]), "invalid_message");
    assert!(
        responses[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must be text")
    );
    assert_eq!(error_code(&responses[3]), "invalid_message");
    assert_eq!(
        error_code(&responses[4]),
        "denied",
        "built-in types are not served"
    );
    assert_eq!(
        error_code(&responses[5]),
        "denied",
        "outside the device's `read` list"
    );
    assert_eq!(error_code(&responses[6]), "invalid_message");
    eventually(
        "the request without an id logged",
        Duration::from_secs(10),
        || async {
            server
                .logs()
                .contains("cannot be answered (it has no id)")
                .then_some(())
        },
    )
    .await;

    // A device may read what its lists allow, and nothing more.
    let responses = viewer.run(json!([
        {"send": {"id": "v1", "type": "request", "operation": "read", "entity": "Order"}},
        create("v2", "forbidden", 1, "open"),
    ]));
    assert_eq!(responses[0]["metadata"]["total"], 3);
    assert_eq!(error_code(&responses[1]), "denied");
    assert!(
        responses[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`write` list")
    );

    // A request in another client id's name is not served, nor answered to that client id.
    let forged = app.run(json!([
        {"send": {"id": "f1", "type": "request", "operation": "create", "entity": "Order",
                  "data": {"item": "forged", "qty": 1, "status": "open"}}, "to": "viewer", "wait": false},
        create("after", "real", 1, "open"),
    ]));
    ok(&forged[1]);
    eventually(
        "the forged request refused",
        Duration::from_secs(10),
        || async {
            let refused = "must come from client id `viewer`: not served";
            server.logs().contains(refused).then_some(())
        },
    )
    .await;
    assert!(acme.list("Order", "item=forged").await.is_empty());
}

/// Live change subscriptions: notifications only for matching changes, whoever made them
/// (REST, a request over MQTT, a plugin), an update moving an object out of the filter sent
/// once, a delete of a known object; none after `unsubscribe`; and a clean session's
/// subscriptions end with it.
#[tokio::test]
async fn subscriptions_notify_matching_changes_from_every_door() {
    let dir = tempfile::tempdir().unwrap();
    let (server, acme) = acme_serving(dir.path()).await;
    device(
        &acme,
        "app-1",
        json!(["Order", "ChaosRecord"]),
        json!(["Order"]),
    )
    .await;
    acme.upload("chaos", &support::plugins::plugin("chaos"))
        .await;
    acme.subscribe_plugin("chaos", "sensors/#").await;
    let app = Session {
        port: server.mqtt.port(),
        login: Some(("app-1", "app-1-password")),
        client_id: "app-1",
        prefix: "spec",
        api: (format!("http://{}", server.http), server.token.clone()),
    };
    let subscribe = |id: &str, entity: &str, filters: Value| {
        json!({"send": {"id": id, "type": "subscription", "operation": "subscribe",
               "entity": entity, "options": {"filters": filters}}})
    };
    let unsubscribe = |id: &str, subscription: &str| {
        json!({"send": {"id": id, "type": "subscription", "operation": "unsubscribe",
               "data": {"subscription_id": subscription}}})
    };
    let open = json!([{"column": "status", "operator": "eq", "value": "open"}]);
    let first = eventually("the subscription made", Duration::from_secs(20), || async {
        let response = app.run(json!([subscribe("s0", "Order", open.clone())]));
        response[0].is_object().then(|| response[0].clone())
    })
    .await;
    let ended = ok(&first)["subscription_id"].as_str().unwrap().to_owned();
    let order = |item: &str, status: &str| json!({"item": item, "status": status});
    let kept = acme.create("Order", order("kept", "open")).await;
    let path = format!("/api/objects/Order/{}", kept["id"].as_str().unwrap());
    let (responses, notifications) = app.converse(json!([
        unsubscribe("u0", &ended),
        subscribe("s1", "Order", open.clone()),
        subscribe("s2", "ChaosRecord", json!([])),
        {"rest": ["POST", "/api/objects/Order", order("rest", "open")]},
        {"rest": ["POST", "/api/objects/Order", order("closed", "closed")]},
        {"send": {"id": "c1", "type": "request", "operation": "create", "entity": "Order",
                  "data": order("mqtt", "open")}},
        {"rest": ["PATCH", &path, {"status": "closed"}]},
        {"rest": ["PATCH", &path, {"qty": 2}]},
        {"publish": ["sensors/line-1", "ok 5"]},
        {"notifications": 4},
    ]));
    // The first session was clean and has ended: so has its subscription.
    assert_eq!(error_code(&responses[0]), "not_found");
    let orders = ok(&responses[1]).clone();
    let sub = orders["subscription_id"].as_str().unwrap();
    assert_eq!(orders["notify_topic"], format!("spec/app-1/notify/{sub}"));
    let items: Vec<(Value, Value)> = (notifications.iter())
        .filter(|n| n["subscription_id"] == sub)
        .map(|n| (n["operation"].clone(), n["data"]["item"].clone()))
        .collect();
    assert_eq!(
        items,
        [
            (json!("create"), json!("rest")),
            (json!("create"), json!("mqtt")),
            (json!("update"), json!("kept")),
        ],
        "matching creates over REST and MQTT, and the update that moved `kept` out, once"
    );
    let records: Vec<&Value> = (notifications.iter())
        .filter(|n| n["entity"] == "ChaosRecord")
        .collect();
    assert_eq!(records.len(), 1, "{notifications:?}");
    assert_eq!(records[0]["operation"], "create");
    assert_eq!(records[0]["data"]["n"], 5, "the plugin's write");

    // A delete of a matching object; nothing after unsubscribing.
    let mqtt = ok(&responses[3])["id"].as_str().unwrap().to_owned();
    let (responses, notifications) = app.converse(json!([
        subscribe("s3", "Order", open),
        subscribe("s4", "ChaosRecord", json!([])),
        {"rest": ["DELETE", format!("/api/objects/Order/{mqtt}"), null]},
        {"notifications": 1},
        unsubscribe("u1", "{sub:0}"),
        {"rest": ["POST", "/api/objects/Order", order("late", "open")]},
        {"publish": ["sensors/line-1", "ok 6"]},
        {"notifications": 2},
    ]));
    ok(&responses[2]);
    let seen: Vec<(Value, Value)> = (notifications.iter())
        .map(|n| (n["operation"].clone(), n["data"].clone()))
        .map(|(operation, data)| (operation, data.get("n").cloned().unwrap_or(data)))
        .collect();
    assert_eq!(
        seen,
        [
            (json!("delete"), json!({ "id": mqtt })),
            (json!("create"), json!(6))
        ],
        "the delete, then only the plugin's record: no order after unsubscribing"
    );
}

#[tokio::test]
async fn requests_through_mosquitto_are_served_in_the_clients_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path()).await;
    let server = Server::start(dir.path()).await;
    let client = json!({
        "mainBrokerURL": format!("mqtt://{}", broker.addr), "specPrefix": "ext/data",
        "username": mosquitto::USER, "password": mosquitto::PASSWORD, "qos": 1, "isEnabled": true,
    });
    server.connected_client(client).await;
    let app = Session {
        port: broker.addr.port(),
        login: Some((mosquitto::USER, mosquitto::PASSWORD)),
        client_id: "field-app",
        prefix: "ext/data",
        api: (format!("http://{}", server.http), server.token.clone()),
    };
    let created = eventually("the create answered", Duration::from_secs(20), || async {
        let response = app.run(
            json!([{"send": {"id": "c1", "type": "request", "operation": "create",
            "entity": "Reading", "data": {"sensor": "s1", "value": 21.5}}}]),
        );
        response[0].is_object().then(|| response[0].clone())
    })
    .await;
    let id = ok(&created)["id"].as_str().unwrap().to_owned();
    let read =
        app.ask(json!({"id": "r1", "type": "request", "operation": "read", "entity": "Reading"}));
    assert_eq!(ok(&read)[0]["id"], id.as_str());
    assert_eq!(server.list("Reading", "sensor=s1").await.len(), 1);
}

#[tokio::test]
async fn lifecycle_hooks_rule_every_door() {
    hooks_rule(&support::plugins::plugin("guard")).await;
}

/// The same rules from `plugins/guard-as`, built with the AssemblyScript SDK: the server wraps
/// its core module into a component of the lifecycle-hooks world on upload.
#[tokio::test]
async fn assemblyscript_lifecycle_hooks_rule_the_same() {
    hooks_rule(&support::plugins::as_plugin(
        "plugins/guard-as",
        "guard_as.wasm",
    ))
    .await;
}

/// Attaches `guard` (deciding as `plugins/guard` documents) to acme's points and checks each
/// of its rules through Data over MQTT, REST and the embedded broker.
async fn hooks_rule(guard: &std::path::Path) {
    let dir = tempfile::tempdir().unwrap();
    let (server, acme) = acme_serving(dir.path()).await;
    for username in ["acme-1", "globex-1", "blocked-1"] {
        device(
            &acme,
            username,
            json!(["Note", "Trap"]),
            json!(["Note", "Trap"]),
        )
        .await;
    }
    acme.upload("guard", guard).await;
    let points = json!([
        "beforeRead",
        "beforeCreate",
        "beforeUpdate",
        "beforeDelete",
        "beforeSubscribe",
        "afterCreate",
        "afterUpdate",
        "afterDelete",
        "beforeConnect",
        "afterConnect",
        "afterDisconnect"
    ]);
    acme.create(
        "LifecycleHook",
        json!({"plugin": "guard", "points": points}),
    )
    .await;
    let session = |login: (&'static str, &'static str)| Session {
        port: server.mqtt.port(),
        login: Some(login),
        client_id: login.0,
        prefix: "spec",
        api: (format!("http://{}", server.http), server.token.clone()),
    };
    let acme_1 = session(("acme-1", "acme-1-password"));
    let globex_1 = session(("globex-1", "globex-1-password"));
    let create = |id: &str, entity: &str, data: Value| json!({"send": {"id": id, "operation": "create", "entity": entity, "data": data}});
    let read_all = |id: &str| json!({"send": {"id": id, "operation": "read", "entity": "Note"}});

    // Creates get the caller's tenant_id whatever they say; reads see only their own.
    let first = eventually("acme-1 served", Duration::from_secs(20), || async {
        let response = acme_1.run(json!([create(
            "a1",
            "Note",
            json!({"text": "a", "tenant_id": "globex"})
        )]));
        response[0].is_object().then(|| response[0].clone())
    })
    .await;
    let note = ok(&first).clone();
    assert_eq!(note["tenant_id"], "acme", "{note}");
    let responses = globex_1.run(json!([
        create("g1", "Note", json!({"text": "g"})),
        read_all("g2"),
        {"send": {"id": "g3", "operation": "update", "entity": "Note", "record_id": note["id"],
                  "data": {"text": "taken"}}},
        {"send": {"id": "g4", "operation": "delete", "entity": "Note", "record_id": note["id"]}},
        create("g5", "Trap", json!({})),
        read_all("g6"),
        {"send": {"id": "g7", "operation": "read", "entity": "Note", "record_id": note["id"]}},
    ]));
    let own = ok(&responses[0]).clone();
    assert_eq!(own["tenant_id"], "globex");
    let seen = ok(&responses[1]).as_array().unwrap();
    assert_eq!(seen.len(), 1, "globex-1 sees its own note only: {seen:?}");
    assert_eq!(seen[0]["text"], "g");
    assert_eq!(responses[1]["metadata"]["total"], 1);
    assert_eq!(
        error_code(&responses[2]),
        "not_found",
        "another's note, by id"
    );
    assert_eq!(
        error_code(&responses[6]),
        "not_found",
        "another's note, by id"
    );
    let moved = globex_1.ask(json!({"id": "g8", "operation": "update", "entity": "Note",
        "record_id": own["id"], "data": {"text": "moved", "tenant_id": "acme"}}));
    let updated = ok(&moved);
    assert_eq!(updated["text"], "moved");
    assert_eq!(
        updated["tenant_id"], "globex",
        "an update cannot move a note: {updated}"
    );
    assert_eq!(error_code(&responses[3]), "denied");
    assert_eq!(responses[3]["error"]["message"], "notes are never deleted");
    assert_eq!(
        error_code(&responses[4]),
        "hook_error",
        "a trapping hook denies"
    );
    assert_eq!(
        ok(&responses[5]).as_array().unwrap().len(),
        1,
        "still served"
    );

    // Subscriptions get the same filter: acme-1 hears its own notes only.
    let (responses, notifications) = acme_1.converse(json!([
        {"send": {"id": "s1", "type": "subscription", "operation": "subscribe", "entity": "Note"}},
        {"rest": ["POST", "/api/objects/Note", {"text": "from rest"}]},
        create("a2", "Note", json!({"text": "mine"})),
        {"notifications": 1},
    ]));
    ok(&responses[0]);
    let heard: Vec<&Value> = notifications.iter().map(|n| &n["data"]["text"]).collect();
    assert_eq!(heard, [&json!("mine")], "{notifications:?}");

    // The REST door: the same rules, for the operator's token.
    let (status, created) = acme
        .call(
            Method::POST,
            "/api/objects/Note",
            Some(json!({"text": "r"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["tenant_id"], "operator");
    let listed = acme.list("Note", "").await;
    assert!(
        listed.iter().all(|n| n["tenant_id"] == "operator") && listed.len() == 2,
        "the operator's token sees its own notes only: {listed:?}"
    );
    let path = format!("/api/objects/Note/{}", created["id"].as_str().unwrap());
    let (status, body) = acme.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("notes are never deleted"),
        "{body}"
    );
    let (status, body) = acme
        .call(Method::POST, "/api/objects/Trap", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("hook_error"),
        "{body}"
    );

    // A device the connect hook refuses never gets in.
    let refused = support::clients::run(
        "mosquitto_pub",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &server.mqtt.port().to_string(),
            "-u",
            "blocked-1",
            "-P",
            "blocked-1-password",
            "-i",
            "blocked-1",
            "-q",
            "1",
            "-t",
            "sensors/x",
            "-m",
            "hi",
        ]
        .map(str::to_owned),
    );
    assert!(!refused.status.success(), "{}", printed(&refused));
    assert!(
        printed(&refused).to_lowercase().contains("not authori"),
        "{}",
        printed(&refused)
    );

    // The after hooks audited the writes and the comings and goings.
    let audit = eventually("the audit", Duration::from_secs(20), || async {
        let entries = acme.list("AuditEntry", "").await;
        let disconnects = entries
            .iter()
            .filter(|e| e["operation"] == "disconnect")
            .count();
        (disconnects >= 3).then_some(entries)
    })
    .await;
    let entry = |operation: &str, caller: &str| {
        audit
            .iter()
            .filter(|e| e["operation"] == operation && e["caller"] == caller)
            .map(|e| (e["recordId"].clone(), e["success"].clone()))
            .collect::<Vec<_>>()
    };
    assert!(
        entry("create", "acme-1").contains(&(note["id"].clone(), json!(true))),
        "{audit:?}"
    );
    let updates = entry("update", "globex-1");
    assert!(
        updates.contains(&(own["id"].clone(), json!(true))),
        "{audit:?}"
    );
    assert!(
        updates.contains(&(note["id"].clone(), json!(false))),
        "{audit:?}"
    );
    assert_eq!(
        entry("delete", "globex-1"),
        [],
        "a refused delete never ran: {audit:?}"
    );
    assert!(!entry("connect", "acme-1").is_empty(), "{audit:?}");
    assert!(entry("connect", "blocked-1").is_empty(), "{audit:?}");
    let by_rest = entry("create", "operator");
    assert!(
        by_rest.contains(&(created["id"].clone(), json!(true))),
        "{audit:?}"
    );
}

/// Reads server-sent events from `response` until `wanted` have come: `(id, event, data)`.
async fn events(response: &mut reqwest::Response, wanted: usize) -> Vec<(String, String, Value)> {
    let mut text = String::new();
    let parsed = |text: &str| -> Vec<(String, String, Value)> {
        (text.split("\n\n").filter(|block| block.contains("data:")))
            .map(|block| {
                let field = |name: &str| {
                    (block.lines())
                        .find_map(|line| line.strip_prefix(name))
                        .map(|v| v.trim().to_owned())
                        .unwrap_or_default()
                };
                let data = serde_json::from_str(&field("data:")).unwrap_or(Value::Null);
                (field("id:"), field("event:"), data)
            })
            .collect()
    };
    let read = async {
        while parsed(&text).len() < wanted {
            match response.chunk().await.expect("the stream reads") {
                Some(chunk) => text.push_str(&String::from_utf8_lossy(&chunk)),
                None => break,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .unwrap_or_else(|_| panic!("{wanted} events did not come; got {text}"));
    parsed(&text)
}

#[tokio::test]
async fn the_change_feed_streams_matching_changes_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (server, acme) = acme_serving(dir.path()).await;
    let http = reqwest::Client::new();
    let feed = |query: &str, last: Option<&str>| {
        let url = format!("http://{}/api/objects/Order/changes?{query}", server.http);
        let request = (http.get(url).bearer_auth(&server.token)).header("x-tenant", "acme");
        match last {
            Some(id) => request.header("last-event-id", id),
            None => request,
        }
    };
    let kept = acme
        .create("Order", json!({"item": "kept", "status": "open"}))
        .await;
    let mut follow = feed("status=open&follow=true", None).send().await.unwrap();
    assert_eq!(follow.status(), StatusCode::OK);
    let path = format!("/api/objects/Order/{}", kept["id"].as_str().unwrap());
    acme.create("Order", json!({"item": "a", "status": "open"}))
        .await;
    acme.create("Order", json!({"item": "closed", "status": "closed"}))
        .await;
    let (status, _) = acme.patch(&path, json!({"status": "closed"})).await;
    assert_eq!(status, StatusCode::OK);
    acme.create("Order", json!({"item": "b", "status": "open"}))
        .await;
    let seen = events(&mut follow, 3).await;
    let told: Vec<(&str, &Value)> = (seen.iter())
        .map(|(_, event, data)| (event.as_str(), &data["data"]["item"]))
        .collect();
    assert_eq!(
        told,
        [
            ("create", &json!("a")),
            ("update", &json!("kept")),
            ("create", &json!("b"))
        ],
        "matching changes only, and the update that moved `kept` out, once"
    );
    assert!(
        seen.iter()
            .all(|(id, _, data)| !id.is_empty() && data["entity"] == "Order")
    );
    drop(follow);

    // Resumed after the first event: what came since, then the end (no `follow`).
    let first = seen[0].0.as_str();
    let mut resumed = feed("status=open", Some(first)).send().await.unwrap();
    assert_eq!(resumed.status(), StatusCode::OK);
    let again = events(&mut resumed, 2).await;
    let ids: Vec<&str> = again.iter().map(|(id, ..)| id.as_str()).collect();
    assert_eq!(ids, [seen[1].0.as_str(), seen[2].0.as_str()]);
    assert!(resumed.chunk().await.unwrap().is_none(), "it ends");

    // Resumed from an id the instance never gave: read again.
    let mut lost = feed("status=open", Some("999999")).send().await.unwrap();
    let missed = events(&mut lost, 1).await;
    assert_eq!(missed[0].1, "missed");
    let (status, body) = acme.get("/api/objects/Order/changes?_sort=item").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A tenant holds at most 64 feeds open at once; the 65th is refused, not queued.
    let (status, body) = server.post("/api/tenants", json!({"name": "beta"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let url = format!(
        "http://{}/api/objects/Order/changes?follow=true",
        server.http
    );
    let open_feed = || {
        let request = http.get(&url).bearer_auth(&server.token);
        request.header("x-tenant", "beta").send()
    };
    let mut held = Vec::new();
    for _ in 0..64 {
        let response = open_feed().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        held.push(response);
    }
    let refused = open_feed().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
}
