//! Against Mosquitto: an external broker that requires a username and password.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::MqttOptions;
use serde_json::json;
use switchyard_dispatch::Outbound;

use crate::common::*;

const USER: &str = "plant";
const PASSWORD: &str = "correct-horse-battery";

/// A Mosquitto process on a free port, killed on drop.
struct Mosquitto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Finds a Mosquitto program on PATH or where Debian installs it.
fn program(name: &str, installed_at: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    on_path
        .or_else(|| {
            Path::new(installed_at)
                .is_file()
                .then(|| installed_at.into())
        })
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed; run scripts/install-mosquitto.sh (or scripts/setup.sh)"
            )
        })
}

fn mosquitto() -> Mosquitto {
    let dir = tempfile::tempdir().expect("temp dir");
    let passwords = dir.path().join("passwd");
    let status = Command::new(program("mosquitto_passwd", "/usr/bin/mosquitto_passwd"))
        .args(["-b", "-c"])
        .arg(&passwords)
        .args([USER, PASSWORD])
        .status()
        .expect("run mosquitto_passwd");
    assert!(status.success(), "mosquitto_passwd failed");
    let port = free_port();
    let config = dir.path().join("mosquitto.conf");
    std::fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\n\
             allow_anonymous false\n\
             password_file {}\n\
             persistence false\n\
             # Started as root, Mosquitto would switch to a user that cannot read this directory.\n\
             user root\n",
            passwords.display()
        ),
    )
    .expect("write mosquitto.conf");
    let child = Command::new(program("mosquitto", "/usr/sbin/mosquitto"))
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    let mosquitto = Mosquitto {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + PATIENCE;
    while std::net::TcpStream::connect(local(port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    mosquitto
}

#[tokio::test]
async fn credentials_are_used_and_a_refusal_is_reported_without_the_password() {
    let broker = mosquitto();
    let test = store();
    let store = &test.store;
    let recorder = Recorder::new(store);
    let mqtt = manager(store, recorder.clone(), None);
    let url = format!("mqtt://127.0.0.1:{}", broker.port);

    let wrong = "wrong-password-42";
    let refused = create(
        store,
        "MQTTClient",
        json!({"mainBrokerURL": url, "username": USER, "password": wrong, "isEnabled": true}),
    );
    let error = until_error(store, &refused).await;
    assert!(error.contains("refused the connection"), "{error}");
    assert!(
        !error.contains(wrong),
        "lastError must not show the password: {error}"
    );

    let id = create(
        store,
        "MQTTClient",
        json!({"mainBrokerURL": url, "username": USER, "password": PASSWORD, "isEnabled": true, "qos": 1}),
    );
    until_connected(store, &id).await;

    subscriber(store, "plant/+/pressure", &id);
    let mut options = MqttOptions::new("pump", "127.0.0.1", broker.port);
    options.set_credentials(USER, PASSWORD);
    let mut device = Device::connect(options).await;
    let message = publish_until_dispatched(&device, &recorder, "plant/p1/pressure", "4.2").await;
    assert_eq!(message.client_id, id);

    device.subscribe("orders/#").await;
    mqtt.publish(&id, "orders/1", b"open valve".to_vec())
        .await
        .expect("publish");
    assert_eq!(
        device.next().await,
        ("orders/1".to_owned(), b"open valve".to_vec())
    );
    mqtt.shutdown().await;
}
