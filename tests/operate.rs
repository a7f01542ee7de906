//! Operating a running server: Prometheus metrics at `/metrics` after real traffic, the
//! plugins' log lines at `/api/logs`, read back and followed live. (The CLI is `tests/cli.rs`.)

use switchyard_test_support as support;

use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use support::plugins::plugin;
use support::{Server, eventually};

const WAIT: Duration = Duration::from_secs(20);

/// A chaos subscriber (`maxAttempts: 1`, so a failure is not retried) on `topic` of a new
/// embedded-broker client, live: a probe published until it is stored. Returns the client id.
async fn chaos_client(server: &Server, topic: &str) -> String {
    server.upload("chaos", &plugin("chaos")).await;
    let client = server
        .connected_client(json!({"mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    let filter = format!("{topic}/#");
    (server.subscriber(&filter, "chaos", &client, json!({"maxAttempts": 1}))).await;
    eventually("the subscription to be live", WAIT, || async {
        publish(server, &client, &format!("{topic}/probe"), "ok 0").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let probes = server
            .list("ChaosRecord", &format!("topic={topic}/probe"))
            .await;
        (!probes.is_empty()).then_some(())
    })
    .await;
    client
}

async fn publish(server: &Server, client: &str, topic: &str, message: &str) {
    let path = format!("/api/clients/{client}/publish");
    let (status, body) = server
        .post(&path, json!({"topic": topic, "message": message}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The samples of a scrape, by metric name and then by its labels.
type Scrape = BTreeMap<String, BTreeMap<BTreeMap<String, String>, f64>>;

fn parse(text: &str) -> Scrape {
    let mut scrape = Scrape::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.trim_end_matches('}')),
            None => (series, ""),
        };
        let labels = (labels.split(',').filter(|l| !l.is_empty()))
            .map(|label| {
                let (key, value) = label.split_once('=').expect("a label");
                (key.to_owned(), value.trim_matches('"').to_owned())
            })
            .collect();
        let value = value.parse().expect("a sample value");
        scrape
            .entry(name.to_owned())
            .or_default()
            .insert(labels, value);
    }
    scrape
}

/// The sample of `name` whose labels include `labels`, 0 if there is none.
fn sample(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let Some(series) = scrape.get(name) else {
        return 0.0;
    };
    (series.iter())
        .filter(|(have, _)| {
            labels
                .iter()
                .all(|(k, v)| have.get(*k).map(String::as_str) == Some(v))
        })
        .map(|(_, value)| value)
        .sum()
}

/// GETs `/metrics`, with the token if one is given.
async fn get_metrics(server: &Server, token: Option<&str>) -> (StatusCode, String) {
    let mut request = reqwest::Client::new().get(format!("http://{}/metrics", server.http));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    (response.status(), response.text().await.expect("a body"))
}

async fn scrape(server: &Server) -> Scrape {
    let (status, text) = get_metrics(server, Some(&server.token)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    parse(&text)
}

#[tokio::test]
async fn metrics_count_what_the_traffic_did() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let client = chaos_client(&server, "m").await;
    let before = scrape(&server).await;

    for message in ["ok 1", "ok 2", "echo hello", "fail", "fail"] {
        publish(&server, &client, "m/traffic", message).await;
    }
    // Every series names its tenant: here the default one.
    let by_client = [("tenant", "default"), ("client", client.as_str())];
    let by_plugin = [("tenant", "default"), ("plugin", "chaos")];
    let outcome = |o: &'static str| [("tenant", "default"), ("plugin", "chaos"), ("outcome", o)];
    // What moved since `before`, series by series.
    let moved = |after: &Scrape| -> Vec<(&'static str, f64)> {
        let delta = |name: &str, labels: &[(&str, &str)]| {
            sample(after, name, labels) - sample(&before, name, labels)
        };
        vec![
            (
                "received",
                delta("switchyard_messages_received_total", &by_client),
            ),
            ("ok", delta("switchyard_invocations_total", &outcome("ok"))),
            (
                "failed",
                delta("switchyard_invocations_total", &outcome("failed")),
            ),
            (
                "timeout",
                delta("switchyard_invocations_total", &outcome("timeout")),
            ),
            // Five over REST and the echo's one from its callback.
            ("published", delta("switchyard_publishes_total", &by_client)),
            (
                "timed",
                delta("switchyard_invocation_seconds_count", &by_plugin),
            ),
            // Gauges, as they are now.
            (
                "connected",
                sample(after, "switchyard_client_connected", &by_client),
            ),
            (
                "queue depth",
                sample(after, "switchyard_queue_depth", &by_client),
            ),
        ]
    };
    let expected = vec![
        ("received", 5.0),
        ("ok", 3.0),
        ("failed", 2.0),
        ("timeout", 0.0),
        ("published", 6.0),
        ("timed", 5.0),
        ("connected", 1.0),
        ("queue depth", 0.0),
    ];
    // Polled until every series shows its count: one that overshoots never matches.
    let mut last = Vec::new();
    let settled = tokio::time::timeout(WAIT, async {
        loop {
            let now = scrape(&server).await;
            last = moved(&now);
            if last == expected {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let after = settled.unwrap_or_else(|_| panic!("moved {last:?}, expected {expected:?}"));
    assert!(sample(&after, "switchyard_store_commit_seconds_count", &[]) >= 1.0);

    let (status, _) = get_metrics(&server, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "metrics need the token by default"
    );
}

#[tokio::test]
async fn plugin_log_lines_are_kept_and_followed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let client = chaos_client(&server, "l").await;

    let url = format!("http://{}/api/logs?plugin=chaos&follow=true", server.http);
    let mut follow = (reqwest::Client::new().get(&url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(follow.status(), StatusCode::OK);
    publish(&server, &client, "l/first", "log").await;

    let mut streamed = String::new();
    let wanted = "chaos stderr line for l/first";
    tokio::time::timeout(WAIT, async {
        while !streamed.contains(wanted) {
            let chunk = follow
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            streamed.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no `{wanted}` streamed; got {streamed}"));
    assert!(streamed.contains("event: log"), "{streamed}");

    let (status, body) = server.get("/api/logs?plugin=chaos&limit=7").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lines: Vec<(String, String, String)> = (body["result"].as_array().unwrap().iter())
        .map(|line| {
            let text = |k: &str| line[k].as_str().unwrap().to_owned();
            (text("level"), text("stream"), text("message"))
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("trace", "log", "chaos trace line for l/first"),
        ("debug", "log", "chaos debug line for l/first"),
        ("info", "log", "chaos info line for l/first"),
        ("warn", "log", "chaos warn line for l/first"),
        ("error", "log", "chaos error line for l/first"),
        ("info", "stdout", "chaos stdout line for l/first"),
        ("warn", "stderr", "chaos stderr line for l/first"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(lines, expected);

    let (_, other) = server.get("/api/logs?plugin=nobody").await;
    assert_eq!(other["result"], json!([]), "lines are kept per plugin");
    let (status, body) = server.get("/api/logs?limit=100000").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("limit"), "{body}");
}
