//! The `switchyard` command line against a real server, as a user or a script runs it: every
//! subcommand's table or `--json`, and the exit codes (0 done, 1 refused or failed, 3 server
//! unreachable). `plugin new` projects are built for real, with cargo and npm.

use switchyard_test_support as support;

use serde_json::{Value, json};
use std::time::Duration;
use support::plugins::{plugin, root};
use support::{Server, eventually};

const WAIT: Duration = Duration::from_secs(20);

/// The `switchyard` binary with `args`, pointed at `server` with its token, and at no saved
/// login (whatever the machine's user has saved).
fn command(server: &Server, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command
        .args(args)
        .env("SWITCHYARD_URL", format!("http://{}", server.http))
        .env("SWITCHYARD_TOKEN", &server.token)
        .env("SWITCHYARD_CONFIG", server.data.join("no-login.json"))
        .kill_on_drop(true);
    command
}

/// Runs the `switchyard` binary against `server`; returns its exit code, stdout and stderr.
async fn cli(server: &Server, args: &[&str]) -> (i32, String, String) {
    finished(command(server, args).output().await)
}

fn finished(output: std::io::Result<std::process::Output>) -> (i32, String, String) {
    let output = output.expect("running switchyard");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let code = output.status.code().expect("an exit code");
    (code, text(&output.stdout), text(&output.stderr))
}

/// The `--json` answer of a command that succeeds.
async fn cli_json(server: &Server, args: &[&str]) -> Value {
    let args = [args, &["--json"]].concat();
    let (code, out, err) = cli(server, &args).await;
    assert_eq!(code, 0, "{args:?}: {out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}

#[tokio::test]
async fn the_cli_deploys_lists_and_removes_plugins_with_exit_codes_scripts_can_use() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let wasm = plugin("forwarder");
    let wasm = wasm.to_str().unwrap();

    let (code, out, err) = cli(&server, &["plugin", "deploy", "fwd", wasm]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("deployed fwd ("), "{out}");
    let (code, out, _) = cli(&server, &["plugin", "list"]).await;
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME"), "a header row: {out}");
    assert!(
        lines[1].starts_with("fwd ") && lines[1].contains("component"),
        "{out}"
    );
    let (_, out, _) = cli(&server, &["plugin", "list", "--json"]).await;
    let listed: serde_json::Value = serde_json::from_str(&out).expect("JSON with --json");
    assert_eq!(listed["result"][0]["name"], "fwd");

    let not_wasm = dir.path().join("notes.txt");
    std::fs::write(&not_wasm, "not a plugin").unwrap();
    let (code, _, err) = cli(
        &server,
        &["plugin", "deploy", "bad", not_wasm.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 1, "the server refused it: {err}");
    assert!(err.contains("422") && err.contains("WebAssembly"), "{err}");

    let (code, out, _) = cli(&server, &["plugin", "rm", "fwd"]).await;
    assert_eq!((code, out.as_str()), (0, "removed fwd\n"));
    let (code, _, err) = cli(&server, &["plugin", "rm", "fwd"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no plugin named `fwd`"), "{err}");

    let gone = ["plugin", "list", "--url", "http://127.0.0.1:1"];
    let (code, _, err) = cli(&server, &gone).await;
    assert_eq!(code, 3, "unreachable: {err}");
}

#[tokio::test]
async fn the_cli_lists_enables_and_disables_clients_and_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let client = json!({"name": "site", "mainBrokerURL": "embedded"});
    let id = server.create("MQTTClient", client).await["id"].clone();

    let (code, out, err) = cli(&server, &["client", "enable", "site"]).await;
    assert_eq!((code, out.as_str()), (0, "enabled site\n"), "{err}");
    server.wait_connected(id.as_str().unwrap()).await;
    let (code, out, _) = cli(&server, &["client", "list"]).await;
    assert_eq!(code, 0);
    assert!(
        out.lines().any(|l| l.contains("site") && l.contains("yes")),
        "{out}"
    );
    let (code, out, err) = cli(&server, &["publish", "site", "cli/t", "hello"]).await;
    assert_eq!(code, 0, "{out}{err}");

    let (code, _, _) = cli(&server, &["client", "disable", "site"]).await;
    assert_eq!(code, 0);
    let (code, _, err) = cli(&server, &["publish", "site", "cli/t", "hello"]).await;
    assert_eq!(code, 1, "a disabled client refuses: {err}");
    assert!(err.contains("409") && err.contains("disabled"), "{err}");
    let (code, _, err) = cli(&server, &["client", "enable", "nobody"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no client with id or name `nobody`"), "{err}");
}

#[tokio::test]
async fn the_cli_manages_clients_and_subscribers_and_reads_objects_failures_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    server.upload("chaos", &plugin("chaos")).await;

    let (code, out, err) = cli(&server, &["client", "add", "site", "embedded", "--enable"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("added MQTTClient site ("), "{out}");
    let clients = cli_json(&server, &["client", "list"]).await;
    let id = clients["result"][0]["id"].as_str().unwrap().to_owned();
    server.wait_connected(&id).await;
    let kafka = [
        "client",
        "add",
        "feed",
        "127.0.0.1:1, 127.0.0.1:2",
        "--type",
        "kafka",
    ];
    let (code, out, err) = cli(&server, &kafka).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("added KafkaClient feed ("), "{out}");
    let (_, out, _) = cli(&server, &["client", "list"]).await;
    let row = out.lines().find(|l| l.contains("feed")).expect(&out);
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[1..],
        ["KafkaClient", "feed", "127.0.0.1:1,127.0.0.1:2", "no", "no"]
    );
    let (code, out, _) = cli(&server, &["client", "rm", "feed"]).await;
    assert_eq!((code, out.as_str()), (0, "removed feed\n"));
    let bad = ["client", "add", "bad", "nowhere"];
    let (code, _, err) = cli(&server, &bad).await;
    assert_eq!(code, 1, "an invalid broker URL is refused: {err}");
    assert!(
        err.contains("422") && err.contains("mainBrokerURL"),
        "{err}"
    );

    let add = ["subscriber", "add", "cli/#", "chaos", "--client", "site"];
    let extra = ["--name", "readings", "--set", "maxAttempts=1"];
    let (code, out, err) = cli(&server, &[&add[..], &extra[..]].concat()).await;
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = cli(&server, &["subscriber", "list"]).await;
    let row = out.lines().find(|l| l.contains("readings")).expect(&out);
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1..], ["readings", "cli/#", "chaos", "site"], "{out}");

    // The broker takes the subscription a moment later: probe until a message comes through.
    let probes = [
        "objects",
        "list",
        "ChaosRecord",
        "--filter",
        "topic=cli/probe",
    ];
    eventually("the subscriber to be live", WAIT, || async {
        cli(&server, &["publish", "site", "cli/probe", "ok 0"]).await;
        let found = cli_json(&server, &probes).await;
        (!found["result"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;
    for (topic, message) in [("cli/a", "ok 7"), ("cli/b", "fail"), ("cli/c", "log")] {
        let (code, out, err) = cli(&server, &["publish", "site", topic, message]).await;
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, out, _) = eventually("the stored record", WAIT, || async {
        let listed = cli(
            &server,
            &["objects", "list", "ChaosRecord", "--filter", "topic=cli/a"],
        )
        .await;
        listed.1.contains("cli/a").then_some(listed)
    })
    .await;
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one record: {out}");
    assert!(
        lines[0].starts_with("ID ") && lines[0].contains(" N "),
        "{out}"
    );
    assert!(lines[1].split_whitespace().any(|cell| cell == "7"), "{out}");

    let failed = eventually("the failed message", WAIT, || async {
        let failed = cli_json(&server, &["failed", "list"]).await;
        let first = failed["result"][0].clone();
        (!first.is_null()).then_some(first)
    })
    .await;
    assert_eq!(failed["topic"], "cli/b");
    let (_, out, _) = cli(&server, &["failed", "list"]).await;
    assert!(out.contains("asked to fail"), "{out}");
    let failed_id = failed["id"].as_str().unwrap();
    let (code, _, err) = cli(&server, &["failed", "replay", failed_id]).await;
    assert_eq!(code, 1, "the callback fails again: {err}");
    assert!(
        err.contains("422") && err.contains("asked to fail"),
        "{err}"
    );
    let (code, out, err) = cli(&server, &["failed", "replay", "--all"]).await;
    assert_eq!((code, out.as_str()), (1, "replayed 0\n"), "{err}");
    assert!(err.contains("1 failed again"), "{err}");

    let (code, out, _) = cli(&server, &["logs", "--plugin", "chaos"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains(") stderr: chaos stderr line for cli/c"),
        "{out}"
    );

    // Following prints a line logged after it started.
    let mut follow = command(
        &server,
        &["logs", "--follow", "--plugin", "chaos", "--limit", "0"],
    );
    let mut follower = follow.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
        follower.stdout.take().unwrap(),
    ));
    let next = async {
        loop {
            cli(&server, &["publish", "site", "cli/d", "log"]).await;
            let line = tokio::time::timeout(Duration::from_millis(500), lines.next_line()).await;
            if let Ok(line) = line {
                return line.unwrap().expect("a line before the stream ends");
            }
        }
    };
    let line = tokio::time::timeout(WAIT, next)
        .await
        .expect("a followed line");
    assert!(
        line.contains("chaos") && line.contains("for cli/d"),
        "{line}"
    );
    follower.kill().await.unwrap();

    let (code, out, _) = cli(&server, &["subscriber", "rm", "readings"]).await;
    assert_eq!((code, out.as_str()), (0, "removed readings\n"));
    let (code, _, _) = cli(&server, &["client", "rm", "site"]).await;
    assert_eq!(code, 0);
    let clients = cli_json(&server, &["client", "list"]).await;
    assert_eq!(clients["total"], 0);
    let subscribers = cli_json(&server, &["subscriber", "list"]).await;
    assert_eq!(subscribers["total"], 0);
}

#[tokio::test]
async fn login_checks_the_token_and_saves_it_for_later_commands() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let saved = dir.path().join("login/config.json");
    let login = |token: &str| {
        let mut login = command(&server, &["login"]);
        login
            .env_remove("SWITCHYARD_TOKEN")
            .env("SWITCHYARD_CONFIG", &saved)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = login.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let token = format!("{token}\n");
        async move {
            tokio::io::AsyncWriteExt::write_all(&mut stdin, token.as_bytes())
                .await
                .unwrap();
            drop(stdin);
            finished(child.wait_with_output().await)
        }
    };

    let (code, _, err) = login("wrong").await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(!saved.exists(), "a refused token is not saved");

    let (code, out, err) = login(&server.token).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("logged in to http://{}", server.http)),
        "{out}"
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&saved).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "only its owner may read the token");

    // Neither the URL nor the token given: both come from the saved login.
    let mut list = command(&server, &["plugin", "list", "--json"]);
    list.env_remove("SWITCHYARD_URL")
        .env_remove("SWITCHYARD_TOKEN")
        .env("SWITCHYARD_CONFIG", &saved);
    let (code, out, err) = finished(list.output().await);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["total"], 0);
}

/// Builds the project in `dir` with `switchyard plugin build`; returns the `.wasm` it printed.
async fn build(server: &Server, dir: &std::path::Path) -> String {
    let mut build = command(server, &["plugin", "build", dir.to_str().unwrap()]);
    // The Rust plugins' own target folder: the dependencies they share are built once.
    build
        .env("CARGO_TARGET_DIR", root().join("plugins/target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    let (code, out, err) = finished(build.output().await);
    assert_eq!(code, 0, "building {}: {err}", dir.display());
    let wasm = out.trim().to_owned();
    assert!(
        wasm.ends_with(".wasm") && std::path::Path::new(&wasm).exists(),
        "{out}"
    );
    wasm
}

#[tokio::test]
async fn plugin_new_makes_projects_that_build_deploy_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let client = server
        .connected_client(json!({"name": "site", "mainBrokerURL": "embedded", "isEnabled": true}))
        .await;
    for (lang, name) in [("rust", "notes-rs"), ("assemblyscript", "notes-as")] {
        let project = dir.path().join(name);
        let new = ["plugin", "new", project.to_str().unwrap(), "--lang", lang];
        let (code, out, err) = cli(&server, &new).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("switchyard plugin build"), "{out}");
        let (code, _, err) = cli(&server, &new).await;
        assert_eq!(code, 1, "an existing folder is not overwritten");
        assert!(err.contains("already exists"), "{err}");

        let wasm = build(&server, &project).await;
        let (code, out, err) = cli(&server, &["plugin", "deploy", name, &wasm]).await;
        assert_eq!(code, 0, "{out}{err}");
        server
            .subscriber(&format!("{name}/#"), name, &client, json!({}))
            .await;
        let topic = format!("{name}/hello");
        eventually("the new plugin to store a note", WAIT, || async {
            cli(&server, &["publish", "site", &topic, "hi there"]).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let notes = server.list("Note", &format!("topic={topic}")).await;
            notes
                .first()
                .map(|note| assert_eq!(note["text"], "hi there"))
        })
        .await;
    }
    let (code, _, err) = cli(&server, &["plugin", "new", "9lives"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("starting with a letter"), "{err}");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err) = cli(&server, &["plugin", "build", empty.to_str().unwrap()]).await;
    assert_eq!(code, 1, "nothing to build: {err}");
    assert!(err.contains("not a plugin project"), "{err}");
}

#[tokio::test]
async fn the_operator_manages_tenants_and_tokens_and_acts_in_a_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (code, out, err) = cli(
        &server,
        &["tenant", "add", "acme", "plugins=1", "objects=10"],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "added tenant \"acme\"\n");
    let (code, out, _) = cli(&server, &["tenant", "add", "acme"]).await;
    assert_eq!(code, 1, "{out}");

    let (_, out, _) = cli(&server, &["tenant", "list"]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{out}");
    let acme = lines
        .iter()
        .find(|l| l.starts_with("acme"))
        .expect("acme listed");
    assert!(acme.contains("0/10") && acme.contains("0/1"), "{out}");

    let token = cli_json(&server, &["token", "add", "acme", "--role", "admin"]).await;
    let secret = token["token"].as_str().unwrap().to_owned();
    let listed = cli_json(&server, &["token", "list", "acme"]).await;
    assert_eq!(listed["result"][0]["id"], token["id"]);
    assert!(
        !listed.to_string().contains(&secret),
        "tokens are never listed"
    );

    // The operator acts in acme with --tenant; acme's own token without it.
    let wasm = plugin("recorder");
    let deploy = [
        "plugin",
        "deploy",
        "rec",
        wasm.to_str().unwrap(),
        "--tenant",
        "acme",
    ];
    let (code, out, err) = cli(&server, &deploy).await;
    assert_eq!(code, 0, "{out}{err}");
    let mine = command(&server, &["plugin", "list", "--json"])
        .env("SWITCHYARD_TOKEN", &secret)
        .output()
        .await;
    let (code, out, _) = finished(mine);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["total"], 1);
    let default = cli_json(&server, &["plugin", "list"]).await;
    assert_eq!(default["total"], 0, "the default tenant has none");
    let again = ["plugin", "deploy", "again", deploy[3], "--tenant", "acme"];
    let (code, _, err) = cli(&server, &again).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("429") && err.contains("plugins quota"),
        "{err}"
    );

    let shown = cli_json(
        &server,
        &["tenant", "quota", "acme", "plugins=2", "objects=null"],
    )
    .await;
    assert_eq!(shown["usage"]["plugins"], json!({"used": 1, "limit": 2}));
    assert_eq!(shown["usage"]["objects"]["limit"], Value::Null);
    let id = token["id"].as_str().unwrap();
    assert_eq!(cli(&server, &["token", "revoke", "acme", id]).await.0, 0);
    let (code, _, err) = cli(&server, &["tenant", "rm", "acme"]).await;
    assert_eq!(code, 1, "it holds a plugin: {err}");
    assert_eq!(
        cli(&server, &["tenant", "rm", "acme", "--force"]).await.0,
        0
    );
    let (code, _, err) = cli(&server, &["plugin", "list", "--tenant", "acme"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no tenant named `acme`"), "{err}");
}
