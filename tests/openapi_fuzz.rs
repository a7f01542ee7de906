//! The REST API fuzzed from its own OpenAPI document: schemathesis (PyPI, installed by
//! `scripts/install-schemathesis.sh`) generates requests for every documented operation against
//! a real server and checks that none is answered with a 5xx. Bounded by a fixed number of
//! examples per operation. `/api/logs` and `/api/objects/{type}/changes` are left out: with
//! `follow=true` they stream until the client leaves, which a fuzzer reads as a hang
//! (`tests/operate.rs` and `tests/data_over_mqtt.rs` cover them).

use switchyard_test_support as support;

use support::Server;
use support::plugins::root;

#[tokio::test]
async fn fuzzing_the_api_from_its_document_finds_no_server_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let document = format!("http://{}/api/openapi.json", server.http);
    let auth = format!("Authorization: Bearer {}", server.token);
    let output = tokio::process::Command::new("python3")
        .args(["-m", "schemathesis.cli", "run", &document, "-H", &auth])
        .args([
            "--checks",
            "not_a_server_error",
            "--exclude-path",
            "/api/logs",
            "--exclude-path",
            "/api/objects/{type}/changes",
        ])
        .args([
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "100",
        ])
        .args(["--request-timeout", "20", "--seed", "7", "--no-color"])
        .env("PYTHONPATH", root().join(".tools/schemathesis"))
        // It keeps a cache of what it found in its working directory: not in the repository.
        .current_dir(dir.path())
        .output()
        .await
        .expect("running python3 (scripts/install-schemathesis.sh installs schemathesis)");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.logs()
    );
}
