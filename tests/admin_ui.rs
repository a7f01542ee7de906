//! The admin UI in a real browser: `tests/admin_ui/walkthrough.py` drives Debian's `chromium`
//! with Python Playwright (both installed by `scripts/install-browser.sh`; Playwright's own
//! browser download cannot run here, so it is pointed at chromium through `executable_path`)
//! against a real server. It signs in, uploads a plugin built from `plugins/`, adds a client
//! and a subscriber, publishes, and sees the stored object, the client's status change, a
//! failed message and live log lines, and checks no page shows the client's password. Its
//! last screenshot is the README's (`target/admin-ui/admin-ui.png`).

use switchyard_test_support as support;

use serde_json::Value;
use std::time::Duration;
use support::Server;
use support::plugins::{plugin, root};

#[tokio::test]
async fn a_user_runs_a_plugin_end_to_end_from_the_admin_ui() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let screenshots = root().join("target/admin-ui");
    std::fs::create_dir_all(&screenshots).unwrap();
    // A screenshot left by an earlier run must not pass for this run's.
    let _ = std::fs::remove_file(screenshots.join("admin-ui.png"));
    let walkthrough = tokio::process::Command::new("python3")
        .arg(root().join("tests/admin_ui/walkthrough.py"))
        .env("PYTHONPATH", root().join(".tools/playwright"))
        .env("SWITCHYARD_URL", format!("http://{}", server.http))
        .env("SWITCHYARD_TOKEN", &server.token)
        .env("PLUGIN_WASM", plugin("chaos"))
        .env("NOT_A_PLUGIN", plugin("not-a-plugin"))
        .env("SCREENSHOTS", &screenshots)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(240), walkthrough)
        .await
        .expect("the walk-through finishes within 4 minutes")
        .expect("running python3 (scripts/install-browser.sh installs Playwright)");
    assert!(
        output.status.success(),
        "the walk-through failed:\n{}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        server.logs()
    );

    // What the UI did is what the API sees.
    let clients = server.list("MQTTClient", "name=ui-client").await;
    assert_eq!(clients[0]["isConnected"], Value::Bool(true));
    let records = server.list("ChaosRecord", "topic=ui/readings").await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["n"], 22, "the edit saved in the object editor");
    let failed = server.list("FailedMessage", "").await;
    assert_eq!(failed.len(), 1);
    assert!(screenshots.join("admin-ui.png").exists());
}
