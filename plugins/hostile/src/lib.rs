//! Test fixture, not an example: a plugin that attacks the host on request, so the host's tests
//! can check its capability checks and per-invocation limits with a real component.
//!
//! The payload is `<command>[ <argument>...]` (words separated by spaces). A command that probes
//! a host rule records the verdict in an `Attempt` object and returns ok, so a test reads what
//! happened from the store:
//!
//! - `command`: the command (for `wasi-probe`, `wasi-probe/<probe>`);
//! - `call`: the call the verdict is about (`objects.find`, `messaging.publish`, `std::fs::read`, ...);
//! - `outcome`: `"ok"` if that call succeeded, else the SDK's `Error::kind()` (`"denied"`,
//!   `"limit-exceeded"`, `"invalid"`, `"not-found"`, `"other"`), or `"refused"` for a failed
//!   std call (`wasi-probe`, `memory-bomb`);
//! - `error`: the error's text (left out when `outcome` is `"ok"`);
//! - `count`, `first`, `firstError`, `detail`: extras of some commands, as the table says.
//!
//! An attack that needs several calls stops at the first refused one and records that one.
//! When the Attempt itself cannot be stored (a flood used up a budget the `create` needs as
//! well, such as the host calls), the handler instead returns the error
//! `attempt not recorded (<why>): <the Attempt as JSON>`, which the host keeps in the
//! `FailedMessage` once the subscriber's attempts are used up.
//!
//! | command | does | records |
//! |---|---|---|
//! | `reconfigure <url>` | finds `MQTTClient` objects, then sets the first one's `mainBrokerURL` to `<url>` | the refused `find`, or the `update` (`outcome` `"no-target"` if the find returned no client) |
//! | `reconfigure-own <url>` | sets `mainBrokerURL` of the client its message came on (`msg.client_id`) | the `update` |
//! | `reconfigure-id <client-id> <url>` | the same for any client id | the `update` |
//! | `steal <url>` | creates `MQTTClient {name: "stolen", mainBrokerURL: <url>, isEnabled: true, username: "x"}` | the `create` |
//! | `delete-subscriber [<id>]` | deletes object `<id>` (default: its own subscriber) | the `delete` |
//! | `rewrite-callback` | sets `callback` of its own subscriber to `"hostile"` | the `update` |
//! | `read-clients` | reads the client its message came on | the `get`; `detail` is the object as JSON, or `"missing"` |
//! | `read-id <id>` | reads object `<id>`, whatever its type | the `get`; `detail` as for `read-clients` |
//! | `find-type <type>` | finds every object of `<type>` | the `find`; `count` is how many it returned |
//! | `update-id <id>` | sets `hijacked: true` on object `<id>` | the `update` |
//! | `delete-failed` | finds `FailedMessage` objects and deletes each | the refused `find` or `delete`, else the last `delete`; `count` is how many it deleted |
//! | `sleep <seconds>` | sleeps, then records | `outcome` `"ok"` (never reached under a shorter deadline) |
//! | `publish-flood <mib>` | publishes one `<mib>` MiB buffer to `flood/x` through its message's client until a publish fails | the failing `publish`; `count` is how many succeeded |
//! | `object-flood <mib>` | creates `Blob {data: <mib MiB string>}` until a create fails | the failing `create`; `count` is how many succeeded |
//! | `publish-big <mib>` | publishes one `<mib>` MiB payload to `flood/x` through its message's client | the `publish` |
//! | `find-huge` | finds `Blob` with an empty query, then with `limit` 1000000 | the second `find`; `first`/`firstError` are the first's outcome and error, `count` the rows it returned |
//! | `find-count` | finds `Blob` with `"total": true` (`objects::find_page`) | the `find`; `count` is the total |
//! | `make-blobs <n>` | creates `n` objects `Blob {i}` (to fill the store for `find-huge`) | nothing; fails if a create fails |
//! | `recurse` | recurses without bound (a stack overflow trap) | nothing |
//! | `memory-bomb` | allocates and writes 1 MiB chunks until an allocation fails, then frees them | `outcome` `"refused"` with the allocation error; `count` is the MiB it got (if the host traps instead, nothing) |
//! | `call-flood` | calls `objects.get("nope")` until a call fails | the failing `get`; `count` is how many succeeded (when the host-call budget is what ran out, storing the Attempt fails too and the verdict comes as the error described above) |
//! | `log-flood <mib>` | logs 1 KiB lines until `<mib>` MiB were logged (each line is a host call) | `outcome` `"ok"`; `count` is the lines logged |
//! | `stdout-flood <mib>` | prints 1 KiB lines to stdout until `<mib>` MiB were printed, ignoring write errors | `outcome` `"ok"`; `count` is the lines printed |
//! | `loop` | spins forever (the host's deadline must stop it) | nothing |
//! | `wasi-probe` | reads `/etc/passwd`, lists `/`, counts environment variables and arguments, connects to `127.0.0.1:1883` and reads stdin to its end | one Attempt per probe (`read-file`, `read-dir`, `env`, `args`, `connect`, `stdin`): `"ok"` with `count` and `detail` (what it got), or `"refused"` with the io error |
//! | `remember` | counts how often its instance was sent `remember`, in its memory (a fresh instance per message counts 1 every time; a reused one counts on) | `outcome` `"ok"`; `count` is the count, `detail` the subscriber it ran for |
//! | `subscribe <client> <filter>` | subscribes `<client>` to `<filter>` | the `subscribe` |
//! | `publish-to <client> <topic>` | publishes `hostile` to `<topic>` through `<client>` | the `publish` |

use serde::Serialize;
use serde::de::IgnoredAny;
use std::io::{Read, Write};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use switchyard_sdk::serde_json::{self, Value, json};
use switchyard_sdk::{Error, Message, Object, Query, Result, log, messaging, objects};

/// Messages `remember` was sent in this instance.
static HANDLED: AtomicUsize = AtomicUsize::new(0);

/// The verdict of one probe, stored as an `Attempt` object.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Attempt {
    command: String,
    call: &'static str,
    outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

impl Attempt {
    fn new(
        command: impl Into<String>,
        call: &'static str,
        outcome: &str,
        error: Option<String>,
    ) -> Attempt {
        Attempt {
            command: command.into(),
            call,
            outcome: outcome.to_owned(),
            error,
            ..Attempt::default()
        }
    }

    /// `call` of `command` ended with `result`: `"ok"`, or the error's kind and text.
    fn of<T>(command: &str, call: &'static str, result: &Result<T>) -> Attempt {
        let (outcome, error) = verdict(result);
        Attempt::new(command, call, outcome, error)
    }

    fn count(self, count: usize) -> Attempt {
        Attempt {
            count: Some(count as u64),
            ..self
        }
    }

    /// Stores the attempt; if that fails too, fails the invocation with the attempt in the
    /// reason, so the verdict still reaches the test through the `FailedMessage`.
    fn record(&self) -> Result<()> {
        objects::create("Attempt", self).map(drop).map_err(|e| {
            let json = serde_json::to_string(self).unwrap_or_default();
            Error::other(format!("attempt not recorded ({e}): {json}"))
        })
    }
}

/// `"ok"` and no text, or the error's kind and text.
fn verdict<T>(result: &Result<T>) -> (&'static str, Option<String>) {
    match result {
        Ok(_) => ("ok", None),
        Err(e) => (e.kind(), Some(e.to_string())),
    }
}

/// Records the outcome of a single call.
fn record_call<T>(command: &str, call: &'static str, result: Result<T>) -> Result<()> {
    Attempt::of(command, call, &result).record()
}

/// The payload's words after the command.
struct Args<'a> {
    command: &'a str,
    words: Vec<&'a str>,
}

impl<'a> Args<'a> {
    fn word(&self, i: usize, name: &str) -> Result<&'a str> {
        self.words
            .get(i)
            .copied()
            .ok_or_else(|| Error::other(format!("`{}` needs an argument <{name}>", self.command)))
    }

    fn parse<T: FromStr>(&self, i: usize, name: &str) -> Result<T> {
        let word = self.word(i, name)?;
        word.parse().map_err(|_| {
            Error::other(format!(
                "`{}`: <{name}> `{word}` is not valid",
                self.command
            ))
        })
    }

    /// A size in MiB (fractions allowed), as bytes.
    fn mib(&self, i: usize) -> Result<usize> {
        let mib: f64 = self.parse(i, "mib")?;
        Ok((mib * MIB as f64) as usize)
    }
}

const MIB: usize = 1 << 20;
const FLOOD_TOPIC: &str = "flood/x";

fn hostile(msg: Message) -> Result<()> {
    let text = msg.text()?;
    let mut words = text.split_whitespace();
    let command = words.next().unwrap_or_default();
    let args = Args {
        command,
        words: words.collect(),
    };
    match command {
        "reconfigure" => reconfigure(args.word(0, "url")?),
        "reconfigure-own" => reconfigure_client(command, &msg.client_id, args.word(0, "url")?),
        "reconfigure-id" => {
            reconfigure_client(command, args.word(0, "client-id")?, args.word(1, "url")?)
        }
        "steal" => steal(args.word(0, "url")?),
        "delete-subscriber" => {
            let id = args.words.first().copied().unwrap_or(&msg.subscriber_id);
            record_call(command, "objects.delete", objects::delete(id))
        }
        "rewrite-callback" => {
            let update = objects::update(&msg.subscriber_id, &json!({"callback": "hostile"}));
            record_call(command, "objects.update", update)
        }
        "read-clients" => read_object(command, &msg.client_id),
        "read-id" => read_object(command, args.word(0, "id")?),
        "find-type" => {
            let found = objects::find::<Object>(args.word(0, "type")?, &json!({}));
            let count = found.as_ref().map_or(0, Vec::len);
            Attempt::of(command, "objects.find", &found)
                .count(count)
                .record()
        }
        "update-id" => {
            let update = objects::update(args.word(0, "id")?, &json!({"hijacked": true}));
            record_call(command, "objects.update", update)
        }
        "delete-failed" => delete_failed(),
        "sleep" => sleep(args.parse(0, "seconds")?),
        "publish-flood" => publish_flood(&msg.client_id, args.mib(0)?),
        "object-flood" => object_flood(args.mib(0)?),
        "publish-big" => {
            let payload = vec![b'x'; args.mib(0)?];
            let published = messaging::publish(&msg.client_id, FLOOD_TOPIC, &payload);
            record_call(command, "messaging.publish", published)
        }
        "find-huge" => find_huge(),
        "find-count" => find_count(),
        "make-blobs" => make_blobs(args.parse(0, "n")?),
        "recurse" => {
            recurse(0);
            Err(Error::other("recurse returned"))
        }
        "memory-bomb" => memory_bomb(),
        "call-flood" => call_flood(),
        "log-flood" => log_flood(args.mib(0)?),
        "stdout-flood" => stdout_flood(args.mib(0)?),
        "loop" => loop {
            std::hint::spin_loop();
        },
        "wasi-probe" => wasi_probe(),
        "remember" => {
            let count = HANDLED.fetch_add(1, Ordering::Relaxed) + 1;
            let attempt = Attempt::new(command, "memory", "ok", None).count(count);
            Attempt {
                detail: Some(msg.subscriber_id.clone()),
                ..attempt
            }
            .record()
        }
        "subscribe" => {
            let subscribed = messaging::subscribe(args.word(0, "client")?, args.word(1, "filter")?);
            record_call(command, "messaging.subscribe", subscribed)
        }
        "publish-to" => {
            let (client, topic) = (args.word(0, "client")?, args.word(1, "topic")?);
            let published = messaging::publish(client, topic, "hostile");
            record_call(command, "messaging.publish", published)
        }
        other => Err(Error::other(format!(
            "unknown hostile command `{other}` (see the table in plugins/hostile/src/lib.rs)"
        ))),
    }
}

/// Points the first client it can find at another broker.
fn reconfigure(url: &str) -> Result<()> {
    const COMMAND: &str = "reconfigure";
    let clients = match objects::find::<Object>("MQTTClient", &json!({})) {
        Ok(clients) => clients,
        found => return Attempt::of(COMMAND, "objects.find", &found).record(),
    };
    let Some(id) = clients
        .first()
        .and_then(|c| c.get("id"))
        .and_then(Value::as_str)
    else {
        let error = Some("the find returned no MQTTClient".to_owned());
        return Attempt::new(COMMAND, "objects.find", "no-target", error).record();
    };
    reconfigure_client(COMMAND, id, url)
}

fn reconfigure_client(command: &str, id: &str, url: &str) -> Result<()> {
    let update = objects::update(id, &json!({"mainBrokerURL": url}));
    record_call(command, "objects.update", update)
}

fn steal(url: &str) -> Result<()> {
    let client =
        json!({"name": "stolen", "mainBrokerURL": url, "isEnabled": true, "username": "x"});
    record_call(
        "steal",
        "objects.create",
        objects::create("MQTTClient", &client),
    )
}

fn read_object(command: &str, id: &str) -> Result<()> {
    let read = objects::get::<Object>(id);
    let detail = match &read {
        Ok(Some(client)) => serde_json::to_string(client).ok(),
        Ok(None) => Some("missing".to_owned()),
        Err(_) => None,
    };
    Attempt {
        detail,
        ..Attempt::of(command, "objects.get", &read)
    }
    .record()
}

fn delete_failed() -> Result<()> {
    const COMMAND: &str = "delete-failed";
    let failed = match objects::find::<Object>("FailedMessage", &json!({})) {
        Ok(failed) => failed,
        found => return Attempt::of(COMMAND, "objects.find", &found).record(),
    };
    let mut deleted = 0;
    let mut last: Result<bool> = Ok(false);
    for id in failed.iter().filter_map(|f| f.get("id")?.as_str()) {
        last = objects::delete(id);
        if last.is_err() {
            break;
        }
        deleted += 1;
    }
    Attempt::of(COMMAND, "objects.delete", &last)
        .count(deleted)
        .record()
}

fn sleep(seconds: f64) -> Result<()> {
    std::thread::sleep(Duration::from_secs_f64(seconds));
    record_call("sleep", "std::thread::sleep", Ok(()))
}

/// Calls `call` until it fails and records the failure with the number of calls that succeeded.
fn until_failure<T>(
    command: &str,
    name: &'static str,
    mut call: impl FnMut() -> Result<T>,
) -> Result<()> {
    let mut succeeded = 0;
    loop {
        let result = call();
        if result.is_err() {
            return Attempt::of(command, name, &result)
                .count(succeeded)
                .record();
        }
        succeeded += 1;
    }
}

fn publish_flood(client: &str, bytes: usize) -> Result<()> {
    let payload = vec![b'x'; bytes];
    until_failure("publish-flood", "messaging.publish", || {
        messaging::publish(client, FLOOD_TOPIC, &payload)
    })
}

fn object_flood(bytes: usize) -> Result<()> {
    let blob = json!({"data": "x".repeat(bytes)});
    until_failure("object-flood", "objects.create", || {
        objects::create("Blob", &blob)
    })
}

fn call_flood() -> Result<()> {
    until_failure("call-flood", "objects.get", || {
        objects::get::<IgnoredAny>("nope")
    })
}

fn find_huge() -> Result<()> {
    let first = objects::find::<IgnoredAny>("Blob", &json!({}));
    let (first_outcome, first_error) = verdict(&first);
    let rows = first.as_ref().map_or(0, Vec::len);
    let second = objects::find::<IgnoredAny>("Blob", &Query::new().limit(1_000_000));
    Attempt {
        first: Some(first_outcome.to_owned()),
        first_error,
        ..Attempt::of("find-huge", "objects.find", &second).count(rows)
    }
    .record()
}

fn find_count() -> Result<()> {
    let page = objects::find_page::<IgnoredAny>("Blob", &Query::new());
    let total = page.as_ref().map_or(0, |p| p.total);
    Attempt::of("find-count", "objects.find", &page)
        .count(total)
        .record()
}

fn make_blobs(n: usize) -> Result<()> {
    for i in 0..n {
        objects::create("Blob", &json!({ "i": i }))?;
    }
    Ok(())
}

/// Recurses until the stack runs out: `black_box` keeps each frame's array on the stack and
/// the condition the compiler cannot decide keeps it from proving the recursion endless.
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(frame[0] + 1).wrapping_add(frame[63])
}

fn memory_bomb() -> Result<()> {
    // Room for every MiB of a 32-bit address space, so pushing never allocates.
    let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(4096);
    let failure = loop {
        let mut chunk = Vec::new();
        if let Err(e) = chunk.try_reserve_exact(MIB) {
            break e;
        }
        // Writing every byte makes the memory really grow.
        chunk.resize(MIB, 1);
        chunks.push(std::hint::black_box(chunk));
    };
    let got = chunks.len();
    drop(chunks);
    let error = Some(failure.to_string());
    Attempt::new("memory-bomb", "Vec::try_reserve_exact", "refused", error)
        .count(got)
        .record()
}

/// 1 KiB lines, counted until `bytes` are written.
fn kib_lines(bytes: usize) -> (String, usize) {
    ("L".repeat(1023), bytes.div_ceil(1024))
}

fn log_flood(bytes: usize) -> Result<()> {
    let (line, lines) = kib_lines(bytes);
    for _ in 0..lines {
        log::info(&line);
    }
    Attempt::of("log-flood", "logging.log", &Ok(()))
        .count(lines)
        .record()
}

fn stdout_flood(bytes: usize) -> Result<()> {
    let (line, lines) = kib_lines(bytes);
    let mut stdout = std::io::stdout().lock();
    for _ in 0..lines {
        let _ = writeln!(stdout, "{line}");
    }
    let _ = stdout.flush();
    Attempt::of("stdout-flood", "std::io::stdout", &Ok(()))
        .count(lines)
        .record()
}

/// Tries what a WASI program could do and the plugin world must not give.
fn wasi_probe() -> Result<()> {
    probe("read-file", "std::fs::read", "bytes", || {
        std::fs::read("/etc/passwd").map(|b| b.len())
    })?;
    probe("read-dir", "std::fs::read_dir", "entries", || {
        std::fs::read_dir("/").map(Iterator::count)
    })?;
    probe("env", "std::env::vars", "variables", || {
        Ok(std::env::vars().count())
    })?;
    probe("args", "std::env::args", "arguments", || {
        Ok(std::env::args().count())
    })?;
    probe(
        "connect",
        "std::net::TcpStream::connect",
        "connections",
        || std::net::TcpStream::connect("127.0.0.1:1883").map(|_| 1),
    )?;
    probe("stdin", "std::io::stdin", "bytes", || {
        let mut input = Vec::new();
        std::io::stdin().read_to_end(&mut input)
    })
}

/// Records one WASI probe: `"ok"` with the count it got, or `"refused"` with the io error.
fn probe(
    name: &str,
    call: &'static str,
    unit: &str,
    attempt: impl FnOnce() -> std::io::Result<usize>,
) -> Result<()> {
    let command = format!("wasi-probe/{name}");
    let attempt = match attempt() {
        Ok(n) => Attempt {
            detail: Some(format!("{n} {unit}")),
            ..Attempt::new(command, call, "ok", None).count(n)
        },
        Err(e) => Attempt::new(command, call, "refused", Some(e.to_string())),
    };
    attempt.record()
}

switchyard_sdk::handler!(hostile);
