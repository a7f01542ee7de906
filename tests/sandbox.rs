//! Callbacks that fail, trap, loop forever, eat memory or misuse the host: each is stopped
//! and recorded, nothing it wrote is kept, and the next message is handled normally. Uses the
//! `chaos` fixture plugin, whose payload selects what it does.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::plugins::plugin;
use support::{MqttPeer, Server};

struct Chaos {
    server: Server,
    device: MqttPeer,
    subscriber: String,
}

impl Chaos {
    async fn start(dir: &std::path::Path) -> Chaos {
        let server = Server::start(dir).await;
        server.upload("chaos", &plugin("chaos")).await;
        let subscriber = server.subscribe_plugin("chaos", "chaos/#").await;
        let device = MqttPeer::connect(server.mqtt, None, &["echo/#"]).await;
        server
            .publish_until_stored(&device, ("chaos/cmd", "ok"), ("ChaosRecord", ""))
            .await;
        Chaos {
            server,
            device,
            subscriber,
        }
    }

    async fn send(&self, command: &str) {
        self.device.publish("chaos/cmd", command).await;
    }

    async fn records(&self) -> usize {
        self.server.list("ChaosRecord", "").await.len()
    }

    /// Sends `ok` and waits for its record, proving the pipeline still works.
    async fn still_works(&self) {
        let n = self.records().await;
        self.send("ok").await;
        self.server.wait_for("ChaosRecord", "", n + 1).await;
    }

    /// Sends a failing command and returns the FailedMessage recorded for it.
    async fn fails(&self, command: &str) -> Value {
        let before = self.records().await;
        self.send(command).await;
        let failed = self
            .server
            .wait_for("FailedMessage", &format!("payload={command}"), 1)
            .await
            .remove(0);
        assert_eq!(failed["subscriber"], self.subscriber.as_str());
        assert_eq!(failed["topic"], "chaos/cmd");
        self.still_works().await;
        assert_eq!(
            self.records().await,
            before + 1,
            "writes of `{command}` were kept"
        );
        failed
    }
}

#[tokio::test]
async fn failing_trapping_and_runaway_callbacks_are_contained() {
    let dir = tempfile::tempdir().unwrap();
    let chaos = Chaos::start(dir.path()).await;

    let failed = chaos.fails("fail").await;
    assert!(
        failed["error"].as_str().unwrap().contains("asked to fail"),
        "{failed}"
    );

    let failed = chaos.fails("trap").await;
    assert!(
        failed["error"].as_str().unwrap().contains("trapped"),
        "{failed}"
    );

    let failed = chaos.fails("loop").await;
    assert!(
        failed["error"].as_str().unwrap().contains("out of time"),
        "{failed}"
    );

    let failed = chaos.fails("oom").await;
    assert!(
        failed["error"].as_str().unwrap().contains("trapped"),
        "{failed}"
    );
}

#[tokio::test]
async fn callbacks_read_their_own_writes_and_get_host_errors_as_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut chaos = Chaos::start(dir.path()).await;

    chaos.send("readback").await;
    chaos.still_works().await;
    assert!(chaos.server.list("FailedMessage", "").await.is_empty());

    chaos.send("badcalls").await;
    let calls = chaos.server.wait_for("BadCalls", "", 1).await.remove(0);
    assert_eq!(calls["create"], "invalid");
    assert_eq!(calls["update"], "not-found");
    assert_eq!(calls["publish"], "not-found");

    chaos.send("echo").await;
    let (topic, payload) = chaos.device.next(Duration::from_secs(20)).await;
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        ("echo/chaos/cmd", b"echo".as_slice())
    );
}

#[tokio::test]
async fn plugin_logs_and_output_reach_the_server_log_tagged() {
    let dir = tempfile::tempdir().unwrap();
    let chaos = Chaos::start(dir.path()).await;
    chaos.send("log").await;
    let subscriber = chaos.subscriber.clone();
    let logs = support::eventually("plugin log lines", Duration::from_secs(20), || async {
        let logs = chaos.server.logs();
        (logs.contains("stderr") && logs.contains("stdout")).then_some(logs)
    })
    .await;
    let tagged: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("plugin=\"chaos\"") || l.contains("plugin=chaos"))
        .collect();
    assert!(tagged.iter().any(|l| l.contains(&subscriber)), "{logs}");
    assert!(
        tagged
            .iter()
            .any(|l| l.contains("WARN") && l.contains("stderr")),
        "{logs}"
    );
    assert!(tagged.iter().any(|l| l.contains("ERROR")), "{logs}");
}
