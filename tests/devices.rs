//! Devices on the embedded broker, with real clients against a real server: `mosquitto_pub`
//! and `mosquitto_sub` over TLS with a certificate authority the test makes, a Python
//! (paho-mqtt) client over secure WebSocket speaking MQTT 5; a wrong password and a missing
//! one refused; a device's publish and subscribe filters holding both ways; two tenants using
//! the same topic names without meeting; a shared subscription splitting messages between its
//! members; a device's status, and its password never shown.

use switchyard_test_support as support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use support::clients::{self, Listening, printed};
use support::plugins::{plugin, root};
use support::tls::Certificates;
use support::{Api, Options, Server, eventually, free_port};

/// A server whose embedded broker requires credentials, with TLS and secure WebSocket
/// listeners serving a certificate of the test's own authority.
struct Site {
    server: Server,
    certs: Certificates,
    tls: SocketAddr,
    wss: SocketAddr,
    _dir: tempfile::TempDir,
}

async fn site() -> Site {
    site_with(Vec::new()).await
}

/// [`site`], with more settings.
async fn site_with(more: Vec<(&'static str, String)>) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certificates::generate(dir.path());
    let local = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let (tls, wss) = (local(free_port()), local(free_port()));
    let env = vec![
        ("SWITCHYARD_MQTT_AUTH", "required".to_owned()),
        ("SWITCHYARD_MQTT_TLS", tls.to_string()),
        ("SWITCHYARD_MQTT_WSS", wss.to_string()),
        ("SWITCHYARD_TLS_CERT", certs.cert.display().to_string()),
        ("SWITCHYARD_TLS_KEY", certs.key.display().to_string()),
    ]
    .into_iter()
    .chain(more)
    .collect();
    let server = Server::start_with(
        dir.path(),
        Options {
            env,
            ..Options::default()
        },
    )
    .await;
    Site {
        server,
        certs,
        tls,
        wss,
        _dir: dir,
    }
}

/// Creates tenant `name` and, in it, the `chaos` plugin running on every `sensors/#` message
/// of an embedded client; returns the operator acting in the tenant.
async fn tenant(server: &Server, name: &str) -> Api {
    let (status, body) = server.post("/api/tenants", json!({"name": name})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let api = server.in_tenant(name);
    api.upload("chaos", &plugin("chaos")).await;
    api.subscribe_plugin("chaos", "sensors/#").await;
    api
}

async fn device(api: &Api, username: &str, publish: Value, subscribe: Value) -> Value {
    let password = format!("{username}-password");
    let device = json!({"username": username, "password": password, "publish": publish, "subscribe": subscribe});
    api.create("MQTTDevice", device).await
}

/// The arguments of a Mosquitto client connecting over TLS, as `login` if given.
fn connection(site: &Site, login: Option<(&str, &str)>) -> Vec<String> {
    let port = site.tls.port().to_string();
    let ca = site.certs.ca.display().to_string();
    let mut args = vec![
        "-h".into(),
        "localhost".into(),
        "-p".into(),
        port,
        "--cafile".into(),
        ca,
    ];
    if let Some((username, password)) = login {
        args.extend(["-u".into(), username.into(), "-P".into(), password.into()]);
    }
    args
}

/// Runs a Mosquitto command-line client over TLS; `args` after the connection's.
fn mosquitto(program: &str, site: &Site, login: Option<(&str, &str)>, args: &[&str]) -> Output {
    clients::run(program, &clients::args(&connection(site, login), args))
}

/// The `ChaosRecord`s of `topic` in `api`'s tenant.
async fn records(api: &Api, topic: &str) -> Vec<Value> {
    api.list("ChaosRecord", &format!("topic={topic}")).await
}

#[tokio::test]
async fn a_device_signs_in_over_tls_and_keeps_to_its_topics() {
    let site = site().await;
    let acme = tenant(&site.server, "acme").await;
    let sensor = device(
        &acme,
        "acme-1",
        json!(["sensors/{username}/#"]),
        json!(["commands/{username}/#"]),
    )
    .await;
    device(&acme, "acme-ops", json!(["commands/#"]), json!([])).await;
    let login = Some(("acme-1", "acme-1-password"));

    // Its own topic: acknowledged (QoS 1) and run.
    let published = mosquitto(
        "mosquitto_pub",
        &site,
        login,
        &["-q", "1", "-t", "sensors/acme-1/t", "-m", "ok 1"],
    );
    assert!(published.status.success(), "{}", printed(&published));
    acme.wait_for("ChaosRecord", "topic=sensors/acme-1/t", 1)
        .await;

    // A wrong password, and none at all, are refused at CONNECT.
    let wrong = mosquitto(
        "mosquitto_pub",
        &site,
        Some(("acme-1", "not-the-password")),
        &["-t", "sensors/acme-1/t", "-m", "ok 9"],
    );
    assert!(!wrong.status.success());
    assert!(
        printed(&wrong)
            .to_lowercase()
            .contains("bad user name or password"),
        "{}",
        printed(&wrong)
    );
    let anonymous = mosquitto(
        "mosquitto_pub",
        &site,
        None,
        &["-t", "sensors/acme-1/t", "-m", "ok 9"],
    );
    assert!(!anonymous.status.success());
    assert!(
        printed(&anonymous).to_lowercase().contains("not authori"),
        "{}",
        printed(&anonymous)
    );

    // Outside its publish filters: dropped with a log line, even over MQTT 5 at QoS 1.
    let outside = mosquitto(
        "mosquitto_pub",
        &site,
        login,
        &[
            "-V",
            "mqttv5",
            "-q",
            "1",
            "-t",
            "sensors/acme-2/t",
            "-m",
            "ok 2",
        ],
    );
    let what = format!(
        "the refused publish's log line (mosquitto_pub said: {})",
        printed(&outside)
    );
    eventually(&what, Duration::from_secs(10), || async {
        site.server
            .logs()
            .contains("published to `sensors/acme-2/t`, outside its publish filters")
            .then_some(())
    })
    .await;
    let allowed = mosquitto(
        "mosquitto_pub",
        &site,
        login,
        &["-q", "1", "-t", "sensors/acme-1/after", "-m", "ok 3"],
    );
    assert!(allowed.status.success(), "{}", printed(&allowed));
    acme.wait_for("ChaosRecord", "topic=sensors/acme-1/after", 1)
        .await;
    assert!(
        records(&acme, "sensors/acme-2/t").await.is_empty(),
        "{}",
        printed(&outside)
    );

    // Its subscribe filters: a retained command for it arrives; a wider filter is refused.
    let ops = Some(("acme-ops", "acme-ops-password"));
    let retained = mosquitto(
        "mosquitto_pub",
        &site,
        ops,
        &["-q", "1", "-r", "-t", "commands/acme-1/reboot", "-m", "now"],
    );
    assert!(retained.status.success(), "{}", printed(&retained));
    let command = mosquitto(
        "mosquitto_sub",
        &site,
        login,
        &["-t", "commands/acme-1/#", "-C", "1", "-W", "10", "-v"],
    );
    assert_eq!(printed(&command).trim(), "commands/acme-1/reboot now");
    let wider = mosquitto(
        "mosquitto_sub",
        &site,
        login,
        &["-t", "commands/#", "-C", "1", "-W", "5"],
    );
    assert!(printed(&wider).contains("denied"), "{}", printed(&wider));

    // Its status follows its connections; its password is never read back.
    let path = format!("/api/objects/MQTTDevice/{}", sensor["id"].as_str().unwrap());
    let status = eventually(
        "the device to be seen and gone",
        Duration::from_secs(10),
        || async {
            let (_, device) = acme.get(&path).await;
            (device["isConnected"] == false && device["lastSeen"].is_string()).then_some(device)
        },
    )
    .await;
    assert!(
        status.get("password").is_none() && sensor.get("password").is_none(),
        "{status}"
    );
    let listed = acme.list("MQTTDevice", "").await;
    assert!(listed.iter().all(|d| d.get("password").is_none()));
    assert!(!site.server.logs().contains("acme-1-password"));
}

#[tokio::test]
async fn two_tenants_use_the_same_topics_without_meeting() {
    let site = site().await;
    let acme = tenant(&site.server, "acme").await;
    let globex = tenant(&site.server, "globex").await;
    device(
        &acme,
        "acme-t",
        json!(["sensors/+/temperature"]),
        json!(["sensors/#"]),
    )
    .await;
    device(
        &globex,
        "globex-t",
        json!(["sensors/+/temperature"]),
        json!(["sensors/#"]),
    )
    .await;
    // A username is the server's, not the tenant's.
    let (status, body) = (globex)
        .post(
            "/api/objects/MQTTDevice",
            json!({"username": "acme-t", "password": "whatever-it-is"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // A globex device listening on everything sees only globex's reading.
    let login = Some(("globex-t", "globex-t-password"));
    let listening = Listening::start(&clients::args(
        &connection(&site, login),
        &["-t", "sensors/#", "-C", "1", "-W", "20"],
    ));
    let topic = "sensors/room/temperature";
    for (username, n) in [("acme-t", "1"), ("globex-t", "2")] {
        let password = format!("{username}-password");
        // Repeated until its tenant's callback has it: the listener above may still be
        // subscribing.
        let api = if n == "1" { &acme } else { &globex };
        eventually(
            "the reading to be recorded",
            Duration::from_secs(20),
            || async {
                let payload = format!("ok {n}");
                let args = ["-q", "1", "-t", topic, "-m", &payload];
                mosquitto("mosquitto_pub", &site, Some((username, &password)), &args);
                (!records(api, topic).await.is_empty()).then_some(())
            },
        )
        .await;
    }
    let numbers = |records: Vec<Value>| records.iter().map(|r| r["n"].clone()).collect::<Vec<_>>();
    assert!(
        numbers(records(&acme, topic).await)
            .iter()
            .all(|n| *n == json!(1))
    );
    assert!(
        numbers(records(&globex, topic).await)
            .iter()
            .all(|n| *n == json!(2))
    );
    let heard = eventually("the listener to hear", Duration::from_secs(20), || async {
        listening.heard()
    })
    .await;
    assert_eq!(String::from_utf8_lossy(&heard.stdout).trim(), "ok 2");
}

/// paho-mqtt over secure WebSocket, MQTT 5: one QoS 1 publish with a user property.
const BROWSER: &str = r#"
import ssl, sys
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import threading

port, ca, username, password, topic = sys.argv[1:6]
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="browser",
                     transport="websockets", protocol=mqtt.MQTTv5)
client.ws_set_options(path="/mqtt")
client.tls_set(ca_certs=ca)
client.username_pw_set(username, password)
answered, connack = threading.Event(), []
def on_connect(client, userdata, flags, reason, properties):
    connack.append(reason)
    answered.set()
client.on_connect = on_connect
client.connect("localhost", int(port))
client.loop_start()
if not answered.wait(10) or connack[0].is_failure:
    sys.exit(f"not connected: {connack}")
properties = Properties(PacketTypes.PUBLISH)
properties.UserProperty = ("trace", "abc-123")
published = client.publish(topic, "meta", qos=1, properties=properties)
published.wait_for_publish(10)
if not published.is_published():
    sys.exit("no PUBACK")
client.disconnect()
client.loop_stop()
"#;

fn python(script: &str, args: &[&str], tools: &Path) -> Output {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .env("PYTHONPATH", tools)
        .output()
        .expect("running python3")
}

#[tokio::test]
async fn a_browser_over_secure_websocket_sends_user_properties_as_headers() {
    let site = site().await;
    let acme = tenant(&site.server, "acme").await;
    device(&acme, "acme-web", json!(["sensors/web/#"]), json!([])).await;
    let (port, ca) = (
        site.wss.port().to_string(),
        site.certs.ca.display().to_string(),
    );
    let args = [
        port.as_str(),
        &ca,
        "acme-web",
        "acme-web-password",
        "sensors/web/meta",
    ];
    let sent = python(BROWSER, &args, &root().join(".tools/python"));
    assert!(sent.status.success(), "{}", printed(&sent));
    let meta = acme.wait_for("Meta", "topic=sensors/web/meta", 1).await;
    assert_eq!(meta[0]["headers"]["trace"], "abc-123", "{meta:?}");

    let refused = python(
        BROWSER,
        &[
            &port,
            &ca,
            "acme-web",
            "wrong-password!",
            "sensors/web/meta",
        ],
        &root().join(".tools/python"),
    );
    assert!(
        printed(&refused).contains("Bad user name or password"),
        "{}",
        printed(&refused)
    );
}

/// paho-mqtt over TLS: two members of the share group `g` (one speaking MQTT 5, one 3.1.1)
/// and a plain subscriber take `shared/#` after a retained message was kept there; 60 QoS 1
/// messages, then one member leaves and 10 more. Then the group `h`: a member that takes one
/// message and acknowledges nothing leaves, the other acknowledges; then the group `k`, the
/// same with a member whose session outlives its connection (clean session off), which comes
/// back. Prints what each received, as JSON.
const SHARE_GROUP: &str = r#"
import json, sys, threading, time
import paho.mqtt.client as mqtt

port, ca, username, password = sys.argv[1:5]

def connect(name, version, filters, manual_ack=False, clean=True):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=version,
                         manual_ack=manual_ack, clean_session=None if clean else False)
    client.tls_set(ca_certs=ca)
    client.username_pw_set(username, password)
    client.got, client.granted, subscribed = [], [], threading.Event()
    def on_subscribe(client, userdata, mid, reasons, properties):
        client.granted.extend(reason.is_failure for reason in reasons)
        subscribed.set()
    client.on_subscribe = on_subscribe
    client.on_message = lambda client, userdata, m: client.got.append(m.payload.decode())
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect("localhost", int(port))
    client.loop_start()
    if not connected.wait(10):
        sys.exit(f"{name}: no CONNACK")
    if filters:
        client.subscribe([(f, 1) for f in filters])
        if not subscribed.wait(10):
            sys.exit(f"{name}: no SUBACK")
    return client

def publish(client, topic, payload, retain=False):
    sent = client.publish(topic, payload, qos=1, retain=retain)
    sent.wait_for_publish(10)
    if not sent.is_published():
        sys.exit(f"no PUBACK for {payload}")

def until(done):
    deadline = time.monotonic() + 20
    while not done():
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)

publisher = connect("publisher", mqtt.MQTTv311, [])
publish(publisher, "shared/kept", "retained", retain=True)
first = connect("first", mqtt.MQTTv5, ["$share/g/shared/#", "$share/g/secret/#"])
second = connect("second", mqtt.MQTTv311, ["$share/g/shared/#"])
plain = connect("plain", mqtt.MQTTv311, ["shared/#"])
until(lambda: plain.got)
plain_saw_retained = list(plain.got)
plain.got.clear()
for i in range(60):
    publish(publisher, f"shared/{i % 3}", f"m{i}")
until(lambda: len(first.got) + len(second.got) >= 60 and len(plain.got) >= 60)
before = {"first": list(first.got), "second": list(second.got), "plain": len(plain.got)}
first.disconnect()
first.loop_stop()
for i in range(10):
    publish(publisher, "shared/late", f"late{i}")
until(lambda: len(second.got) >= len(before["second"]) + 10)
after = second.got[len(before["second"]):]

def one_leaves_unacknowledged(group, version, clean):
    """Two members of the share group `group`: one takes one of two messages, acknowledges
    nothing and leaves; the other acknowledges. What the one that left got, and the other."""
    topic = f"$share/{group}/shared/{group}/#"
    leaver = connect(f"leaver-{group}", version, [topic], manual_ack=True, clean=clean)
    stayer = connect(f"stayer-{group}", mqtt.MQTTv311, [topic])
    for i in range(2):
        publish(publisher, f"shared/{group}/on", f"{group}{i}")
    until(lambda: leaver.got and stayer.got)
    left = list(leaver.got)
    leaver.disconnect()
    leaver.loop_stop()
    return left, stayer

held, taker = one_leaves_unacknowledged("h", mqtt.MQTTv5, clean=True)
until(lambda: len(taker.got) >= 2)
kept, other = one_leaves_unacknowledged("k", mqtt.MQTTv311, clean=False)
# Back with its session (and its subscription): it gets what it had not acknowledged.
back = connect("leaver-k", mqtt.MQTTv311, [], clean=False)
until(lambda: back.got)
print(json.dumps({"before": before, "refused": first.granted, "retained": plain_saw_retained,
                  "after": after,
                  "held": {"holder": held, "taker": taker.got},
                  "kept": {"keeper": kept, "back": back.got, "other": other.got}}))
"#;

#[tokio::test]
async fn a_shared_subscription_hands_each_message_to_one_member() {
    let site = site().await;
    let (status, body) = site
        .server
        .post("/api/tenants", json!({"name": "acme"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let acme = site.server.in_tenant("acme");
    device(&acme, "acme-pool", json!(["shared/#"]), json!(["shared/#"])).await;
    let (port, ca) = (
        site.tls.port().to_string(),
        site.certs.ca.display().to_string(),
    );
    let args = [port.as_str(), &ca, "acme-pool", "acme-pool-password"];
    let ran = python(SHARE_GROUP, &args, &root().join(".tools/python"));
    assert!(ran.status.success(), "{}", printed(&ran));
    let seen: Value = serde_json::from_slice(&ran.stdout).unwrap();
    let strings = |v: &Value| -> Vec<String> {
        let list = v.as_array().unwrap().iter();
        list.map(|s| s.as_str().unwrap().to_owned()).collect()
    };
    let (first, second) = (
        strings(&seen["before"]["first"]),
        strings(&seen["before"]["second"]),
    );
    assert!(!first.is_empty() && !second.is_empty(), "{seen}");
    let mut both: Vec<String> = first.into_iter().chain(second).collect();
    both.sort();
    let mut every: Vec<String> = (0..60).map(|i| format!("m{i}")).collect();
    every.sort();
    assert_eq!(both, every, "each message reached exactly one member");
    assert_eq!(seen["before"]["plain"], 60, "{seen}");
    assert_eq!(seen["retained"], json!(["retained"]), "{seen}");
    // `secret/#` is outside the device's filters, shared or not.
    assert_eq!(seen["refused"], json!([false, true]), "{seen}");
    let late: Vec<String> = (0..10).map(|i| format!("late{i}")).collect();
    let mut after = strings(&seen["after"]);
    // One the leaving member was handed before the broker read its DISCONNECT comes on later.
    after.sort_by_key(|m| m[4..].parse::<u32>().unwrap());
    assert_eq!(after, late, "the member left takes everything");
    // What a member leaves unacknowledged goes to the other member.
    let holder = strings(&seen["held"]["holder"]);
    assert_eq!(holder.len(), 1, "{seen}");
    let mut taker = strings(&seen["held"]["taker"]);
    taker.sort();
    assert_eq!(taker, ["h0", "h1"], "{seen}");
    // Unless the member's session outlives its connection: it keeps them for its return.
    let kept = strings(&seen["kept"]["keeper"]);
    assert_eq!(kept.len(), 1, "{seen}");
    assert_eq!(strings(&seen["kept"]["back"]), kept, "{seen}");
    let mut both: Vec<String> = kept
        .into_iter()
        .chain(strings(&seen["kept"]["other"]))
        .collect();
    both.sort();
    assert_eq!(both, ["k0", "k1"], "{seen}");
}

#[tokio::test]
async fn a_device_publishes_over_http_with_its_own_credentials() {
    let site = site().await;
    let acme = tenant(&site.server, "acme").await;
    device(
        &acme,
        "acme-http",
        json!(["sensors/{username}/#"]),
        json!([]),
    )
    .await;
    let url = format!("http://{}/api/devices/publish", site.server.http);
    let http = reqwest::Client::new();
    let publish = |login: Option<(&str, &str)>, topic: &str, message: &str| {
        let request = http
            .post(&url)
            .json(&json!({"topic": topic, "message": message}));
        let request = match login {
            Some((username, password)) => request.basic_auth(username, Some(password)),
            None => request.bearer_auth(&site.server.token),
        };
        async move {
            let response = request.send().await.unwrap();
            let challenge = response.headers().get("www-authenticate").cloned();
            (
                response.status(),
                challenge,
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let login = Some(("acme-http", "acme-http-password"));

    let (status, _, body) = publish(login, "sensors/acme-http/t", "ok 7").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The 200 came once the callback's write was on disk: it is there at once.
    let recorded = records(&acme, "sensors/acme-http/t").await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["n"], 7);

    let (status, challenge, body) = publish(
        Some(("acme-http", "wrong-password")),
        "sensors/acme-http/t",
        "ok 8",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(challenge.unwrap(), "Basic realm=\"switchyard devices\"");
    let (status, _, body) = publish(None, "sensors/acme-http/t", "ok 8").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the operator's token is no device's: {body}"
    );
    let (status, _, body) = publish(login, "sensors/elsewhere/t", "ok 9").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("sensors/elsewhere/t"),
        "{body}"
    );
    let (status, _, body) = publish(login, "sensors/acme-http/+", "ok 9").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(records(&acme, "sensors/acme-http/t").await.len(), 1);
}

#[tokio::test]
async fn connection_events_reach_a_tenants_callbacks() {
    let site = site().await;
    let acme = tenant(&site.server, "acme").await;
    acme.upload("forwarder", &plugin("forwarder")).await;
    let client = acme.list("MQTTClient", "").await[0]["id"].clone();
    let subscriber = json!({"topic": "$events/connected/+", "callback": "forwarder",
        "clients": [client], "forwardTo": "seen/connected"});
    acme.create("MessageSubscriber", subscriber).await;
    device(&acme, "acme-watch", json!([]), json!(["seen/#"])).await;
    device(&acme, "acme-door", json!(["door/#"]), json!([])).await;
    // A device may not forge an event.
    device(&acme, "acme-forger", json!(["#"]), json!([])).await;

    let login = Some(("acme-watch", "acme-watch-password"));
    let listening = Listening::start(&clients::args(
        &connection(&site, login),
        &["-t", "seen/#", "-C", "5", "-W", "30"],
    ));
    // Devices connect (and one forges an event) until the listener, which may still be
    // subscribing, has heard five events.
    let forger = Some(("acme-forger", "acme-forger-password"));
    let forged = r#"{"event":"forged","username":"acme-door"}"#;
    let door = Some(("acme-door", "acme-door-password"));
    let output = eventually("five connected events", Duration::from_secs(30), || async {
        mosquitto(
            "mosquitto_pub",
            &site,
            forger,
            &["-t", "$events/connected/acme-door", "-m", forged],
        );
        mosquitto(
            "mosquitto_pub",
            &site,
            door,
            &["-t", "door/open", "-m", "1"],
        );
        listening.heard()
    })
    .await;
    let events: Vec<Value> = (output.stdout.split(|&b| b == b'\n'))
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).expect("a JSON event"))
        .collect();
    assert_eq!(events.len(), 5, "{events:?}");
    for event in &events {
        assert_eq!(event["event"], "connected", "no forged event: {event}");
        assert!(
            ["acme-door", "acme-forger", "acme-watch"]
                .contains(&event["username"].as_str().unwrap()),
            "{event}"
        );
        assert_eq!(event["protocol"], "3.1.1", "{event}");
        assert!(
            event["device"].is_string() && event["clientId"].is_string(),
            "{event}"
        );
    }
    assert!(
        events.iter().any(|e| e["username"] == "acme-door"),
        "{events:?}"
    );
}

/// Publishes at QoS 1 as `login`: once it returns, a callback the message reached has run and
/// its write is on disk.
fn publish(site: &Site, login: (&str, &str), topic: &str, message: &str) -> Output {
    mosquitto(
        "mosquitto_pub",
        site,
        Some(login),
        &["-q", "1", "-t", topic, "-m", message],
    )
}

#[tokio::test]
async fn a_hooks_plugin_decides_who_connects_and_what_they_may_do() {
    hooks_decide(&plugin("gate")).await;
}

/// The same decisions from `plugins/gate-as`, built with the AssemblyScript SDK: the server
/// wraps its core module into a component of the broker-hooks world on upload.
#[tokio::test]
async fn an_assemblyscript_hooks_plugin_decides_the_same() {
    hooks_decide(&support::plugins::as_plugin(
        "plugins/gate-as",
        "gate_as.wasm",
    ))
    .await;
}

/// Runs `gate` (a plugin deciding as `plugins/gate` documents) as the broker's hooks and checks
/// each of its decisions with mosquitto clients.
async fn hooks_decide(gate: &Path) {
    let site = site_with(vec![("SWITCHYARD_MQTT_HOOKS", "gate".into())]).await;
    let operator = &site.server;
    operator.upload("gate", gate).await;
    operator.upload("chaos", &plugin("chaos")).await;
    operator.subscribe_plugin("chaos", "open/#").await;
    operator.subscribe_plugin("chaos", "any/#").await;
    operator.subscribe_plugin("chaos", "forbidden/#").await;
    let acme = tenant(operator, "acme").await;
    device(&acme, "acme-h", json!(["sensors/{username}/#"]), json!([])).await;

    // Connect: deny, and a hook that traps denies too.
    for username in ["intruder", "trapper"] {
        let refused = publish(&site, (username, "any-password"), "open/x", "ok 0");
        assert!(
            !refused.status.success(),
            "{username}: {}",
            printed(&refused)
        );
        assert!(
            printed(&refused).to_lowercase().contains("not authori"),
            "{}",
            printed(&refused)
        );
    }
    assert!(
        site.server
            .logs()
            .contains("the MQTT hooks plugin `gate` failed, so it denies")
    );
    // Ignore: the device objects decide, password and filters.
    let own = publish(
        &site,
        ("acme-h", "acme-h-password"),
        "sensors/acme-h/t",
        "ok 1",
    );
    assert!(own.status.success(), "{}", printed(&own));
    assert_eq!(records(&acme, "sensors/acme-h/t").await.len(), 1);
    let wrong = publish(
        &site,
        ("acme-h", "not-its-password"),
        "sensors/acme-h/t",
        "ok 1",
    );
    assert!(!wrong.status.success(), "{}", printed(&wrong));

    // Allow: a guest no device object knows gets in, with only what the hook allows.
    let guest = ("guest", "");
    assert!(publish(&site, guest, "open/door", "ok 2").status.success());
    assert!(publish(&site, guest, "any/door", "ok 3").status.success());
    assert!(
        publish(&site, guest, "forbidden/door", "ok 4")
            .status
            .success()
    );
    assert_eq!(
        records(operator, "open/door").await.len(),
        1,
        "allowed by the hook"
    );
    assert!(
        records(operator, "any/door").await.is_empty(),
        "no topics of its own"
    );
    assert!(
        records(operator, "forbidden/door").await.is_empty(),
        "denied by the hook"
    );
    let secret = mosquitto(
        "mosquitto_sub",
        &site,
        Some(guest),
        &["-t", "secret/#", "-C", "1", "-W", "5"],
    );
    assert!(printed(&secret).contains("denied"), "{}", printed(&secret));
    let slow = ["-t", "slow/#", "-q", "1", "-d", "-E"];
    let slow = mosquitto("mosquitto_sub", &site, Some(guest), &slow);
    assert!(
        printed(&slow).contains("Subscribed (mid: 1): 0"),
        "granted at QoS 0: {}",
        printed(&slow)
    );

    // Superuser: every topic of its tenant, without asking again.
    let root = ("root", "whatever");
    assert!(publish(&site, root, "any/door", "ok 5").status.success());
    let recorded = records(operator, "any/door").await;
    assert_eq!((recorded.len(), recorded[0]["n"].clone()), (1, json!(5)));
}
