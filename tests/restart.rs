//! Everything survives a restart: plugins (loaded from their cached compiled artifact, not
//! recompiled), clients (enabled ones reconnect), subscribers, objects and the generated token;
//! and so does an upgrade from the versions that kept everything in sled.

use switchyard_test_support as support;

use serde_json::json;
use support::clients::{self, Listening, printed};
use support::plugins::plugin;
use support::{MqttPeer, Options, Server, copy_dir, fixture};

#[tokio::test]
async fn state_survives_a_restart_and_enabled_clients_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start_with(
        dir.path(),
        Options {
            token: None,
            ..Options::default()
        },
    )
    .await;
    let token = first.token.clone();
    assert_eq!(
        token.len(),
        48,
        "a generated token is printed once: {token}"
    );
    first.upload("recorder", &plugin("recorder")).await;
    let client = first
        .connected_client(json!({"name": "site", "mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    let idle = first
        .create("MQTTClient", json!({"mainBrokerURL": "embedded"}))
        .await;
    first.subscribe_client(&client, "s/+", "recorder").await;
    let device = MqttPeer::connect(first.mqtt, None, &[]).await;
    first.record_reading(&device, "s/a", "before").await;
    let (http, mqtt) = (first.http, first.mqtt);
    first.stop();

    let options = Options {
        token: None,
        http: Some(http),
        mqtt: Some(mqtt),
        ..Options::default()
    };
    let mut second = Server::start_with(dir.path(), options).await;
    assert!(
        !second.logs().contains(&token),
        "the token is printed only at first start"
    );
    second.token = token;

    let (_, plugins) = second.get("/api/plugins").await;
    assert_eq!(plugins["result"][0]["name"], "recorder", "{plugins}");
    assert!(
        !second.logs().contains("recompiling"),
        "plugin was recompiled at restart"
    );
    assert!(
        !second
            .list("TemperatureReading", "sensorId=before")
            .await
            .is_empty()
    );
    assert_eq!(second.list("MessageSubscriber", "").await.len(), 1);
    second.wait_connected(&client).await;
    let (_, idle) = second
        .get(&format!(
            "/api/objects/MQTTClient/{}",
            idle["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(idle["isConnected"], false);

    let device = MqttPeer::connect(second.mqtt, None, &[]).await;
    second.record_reading(&device, "s/b", "after").await;
}

/// The token the fixture's server generated (see `tests/fixtures/README.md`).
const FIXTURE_TOKEN: &str = "a66b6a51ce9814a759d5364f222a1c0ec6be0d60791a3cef";

#[tokio::test]
async fn a_data_directory_of_the_sled_based_versions_opens_with_everything_in_it() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("sled-data"), &dir.path().join("data"));
    let options = Options {
        token: None,
        ..Options::default()
    };
    let mut server = Server::start_with(dir.path(), options).await;
    server.token = FIXTURE_TOKEN.to_owned();

    let (status, plugins) = server.get("/api/plugins").await;
    assert_eq!(status, 200, "the old token works: {plugins}");
    let names: Vec<&str> = (plugins["result"].as_array().unwrap().iter())
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["chaos", "recorder"]);
    assert_eq!(
        plugins["result"][1]["limitOverrides"],
        json!({"timeoutMs": 2000})
    );
    let (_, indexes) = server.get("/api/indexes").await;
    assert_eq!(
        indexes["result"],
        json!([{"type": "TemperatureReading", "property": "sensorId"}])
    );
    assert_eq!(server.list("TemperatureReading", "").await.len(), 3);
    let clients = server.list("MQTTClient", "").await;
    assert_eq!((clients.len(), &clients[0]["name"]), (1, &json!("site")));
    assert!(clients[0].get("password").is_none());
    let id = clients[0]["id"].as_str().unwrap();
    server.wait_connected(id).await;

    // The subscribers route, and the recorder runs, as before the upgrade.
    let device = MqttPeer::connect(server.mqtt, None, &[]).await;
    (server)
        .record_reading(&device, "sensors/t9/temperature", "t9")
        .await;
    // The retry the old version queued (due an hour after it failed, long past) runs, fails
    // again, and its subscriber's two attempts are spent: it is recorded.
    let failed = server.wait_for("FailedMessage", "topic=flaky/1", 1).await;
    assert_eq!(
        (&failed[0]["payload"], &failed[0]["attempts"]),
        (&json!("fail"), &json!(2))
    );
}

/// Runs a Mosquitto command-line client against the server's embedded broker.
fn mosquitto(program: &str, server: &Server, args: &[&str]) -> std::process::Output {
    clients::run(program, &clients::args(&connection(server), args))
}

fn connection(server: &Server) -> Vec<String> {
    let port = server.mqtt.port().to_string();
    vec!["-h".into(), "127.0.0.1".into(), "-p".into(), port]
}

/// SIGKILL, then the same server again on the same ports and data.
async fn crash_and_restart(server: Server, dir: &std::path::Path) -> Server {
    server.kill();
    let again = server.same_again();
    drop(server);
    Server::start_with(dir, again).await
}

#[tokio::test]
async fn a_devices_persistent_session_and_retained_messages_survive_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    // A device subscribes with a persistent session (clean session off) and goes away; a
    // retained message is kept.
    let subscribed = mosquitto(
        "mosquitto_sub",
        &server,
        &["-c", "-i", "keeper", "-q", "1", "-t", "cmd/#", "-E"],
    );
    assert!(subscribed.status.success(), "{}", printed(&subscribed));
    let retained = mosquitto(
        "mosquitto_pub",
        &server,
        &["-q", "1", "-r", "-t", "state/door", "-m", "open"],
    );
    assert!(retained.status.success(), "{}", printed(&retained));

    // Across a crash, its subscription goes on collecting what is published for it.
    let server = crash_and_restart(server, dir.path()).await;
    for n in 1..=3 {
        let message = format!("command {n}");
        let published = mosquitto(
            "mosquitto_pub",
            &server,
            &["-q", "1", "-t", "cmd/door", "-m", &message],
        );
        assert!(published.status.success(), "{}", printed(&published));
    }
    // Acknowledged above, so in the store: a second crash keeps them.
    let server = crash_and_restart(server, dir.path()).await;
    let resumed = mosquitto(
        "mosquitto_sub",
        &server,
        &[
            "-c", "-i", "keeper", "-q", "1", "-t", "cmd/#", "-C", "3", "-W", "10",
        ],
    );
    assert_eq!(printed(&resumed), "command 1\ncommand 2\ncommand 3\n");
    let fresh = mosquitto(
        "mosquitto_sub",
        &server,
        &["-t", "state/#", "-C", "1", "-W", "10", "-v"],
    );
    assert_eq!(printed(&fresh), "state/door open\n");

    // A clean start ends the session: nothing more is kept for it.
    let clean = mosquitto(
        "mosquitto_sub",
        &server,
        &["-i", "keeper", "-t", "other", "-E"],
    );
    assert!(clean.status.success(), "{}", printed(&clean));
    mosquitto(
        "mosquitto_pub",
        &server,
        &["-q", "1", "-t", "cmd/door", "-m", "command 4"],
    );
    // Subscribed again, the device hears what comes now, and not what came in between.
    let listening = Listening::start(&clients::args(
        &connection(&server),
        &[
            "-c", "-i", "keeper", "-q", "1", "-t", "cmd/#", "-C", "1", "-W", "20",
        ],
    ));
    let after = support::eventually(
        "the device to hear command 5",
        std::time::Duration::from_secs(20),
        || async {
            mosquitto(
                "mosquitto_pub",
                &server,
                &["-q", "1", "-t", "cmd/door", "-m", "command 5"],
            );
            listening.heard()
        },
    )
    .await;
    assert_eq!(printed(&after), "command 5\n");
}
