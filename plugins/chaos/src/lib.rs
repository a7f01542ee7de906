//! Test fixture, not an example: a plugin that misbehaves on request, so the host's tests can
//! check failure handling (discarded writes, traps, timeouts, memory limits, logs, error
//! kinds) with a real component.
//!
//! The payload is `<command>[ <argument>]`; the command selects the behaviour:
//!
//! | command | does |
//! |---|---|
//! | `ok [n]` | creates `ChaosRecord {command, topic, n}` (`n` is the argument as JSON, or as a string when it is not JSON; left out when absent) and returns ok |
//! | `fail` | creates a `ChaosRecord`, then returns the error "asked to fail" |
//! | `trap` | creates a `ChaosRecord`, then panics (the instance traps) |
//! | `loop` | creates a `ChaosRecord`, then loops forever (the host's deadline must stop it) |
//! | `oom` | creates a `ChaosRecord`, then allocates until allocation fails (a trap) |
//! | `log` | logs one line at each level and prints one line to stdout and one to stderr |
//! | `echo ...` | creates `Echo {topic, size, text}` (`text` is the payload when it is UTF-8, left out otherwise) and publishes the payload unchanged to `echo/<topic>` on the same client |
//! | `readback` | creates, reads, finds, updates and deletes `ReadBack` objects, returning an error if any read misses the invocation's own writes; keeps one `ReadBack {role: "kept", v: 2}` |
//! | `badcalls` | makes host calls with bad input (invalid JSON to create, an unknown id to update, an unknown client to publish) and stores the error kinds it got in `BadCalls {create, update, publish}` (`"invalid"`, `"not-found"`, ... or `"ok"` when the call succeeded) |
//! | `slow-ok [n [padding]]` | does a few milliseconds of busy work, then creates a `ChaosRecord` with `n` (the first word of the argument; the rest only makes the message larger) and returns ok |
//! | `incr <id>` | reads the object `<id>` and writes its `count` back plus one (a read-modify-write, for lost-update tests) |
//! | `gated [n]` | returns the error "the gate is closed" unless its subscriber has `open: true`; then acts as `ok` |
//! | `meta` | creates `Meta {topic, key, headers}` (`key` as text or null, `headers` an object of text values) |
//! | `link <n>` | finds the topic's `Link` with the highest `n` and creates `Link {topic, n, prev}`, `prev` being that link's `n` (null for the first): a chain that shows the order messages were handled in |
//!
//! Every failing command first creates a `ChaosRecord`, so a test can check that the failed
//! invocation's writes were discarded.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchyard_sdk::bindings::switchyard::plugin::objects as raw_objects;
use switchyard_sdk::{Error, Message, Object, Query, Result, log, messaging, objects};

#[derive(Serialize)]
struct ChaosRecord<'a> {
    command: &'a str,
    topic: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<Value>,
}

#[derive(Serialize)]
struct Echo<'a> {
    topic: &'a str,
    size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

#[derive(Serialize)]
struct BadCalls {
    create: &'static str,
    update: &'static str,
    publish: &'static str,
}

#[derive(Deserialize)]
struct ReadBack {
    id: String,
    v: i64,
}

fn chaos(msg: Message) -> Result<()> {
    let (command, argument) = split_command(&msg.payload)?;
    let record = |n: Option<Value>| {
        objects::create(
            "ChaosRecord",
            &ChaosRecord {
                command,
                topic: &msg.topic,
                n,
            },
        )
    };
    match command {
        "ok" => record(argument.map(parse_argument)).map(drop),
        "fail" => {
            record(None)?;
            Err(Error::other("asked to fail"))
        }
        "trap" => {
            record(None)?;
            panic!("asked to trap");
        }
        "loop" => {
            record(None)?;
            loop {
                std::hint::spin_loop();
            }
        }
        "oom" => {
            record(None)?;
            exhaust_memory()
        }
        "log" => {
            write_logs(&msg.topic);
            Ok(())
        }
        "echo" => echo(&msg),
        "readback" => read_back(),
        "badcalls" => bad_calls(),
        "slow-ok" => {
            busy_work();
            let first_word = argument.map(|a| a.split(|&b| b == b' ').next().unwrap_or(a));
            record(first_word.map(parse_argument)).map(drop)
        }
        "incr" => increment(argument),
        "link" => link(&msg.topic, argument),
        "meta" => {
            let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
            let headers: serde_json::Map<String, Value> = (msg.headers.iter())
                .map(|(k, v)| (k.clone(), Value::String(text(v))))
                .collect();
            let key = msg.key.as_deref().map(text);
            let meta = json!({"topic": msg.topic, "key": key, "headers": headers});
            objects::create("Meta", &meta).map(drop)
        }
        "gated" => {
            let subscriber: Option<Object> = objects::get(&msg.subscriber_id)?;
            if subscriber.and_then(|s| s.get("open").cloned()) != Some(Value::Bool(true)) {
                return Err(Error::other("the gate is closed"));
            }
            record(argument.map(parse_argument)).map(drop)
        }
        other => Err(Error::other(format!(
            "unknown chaos command `{other}`: expected ok, fail, trap, loop, oom, log, echo, \
             readback, badcalls, slow-ok, incr, link, gated or meta"
        ))),
    }
}

/// Splits the payload at its first space into a command and an optional argument; the
/// argument may be any bytes (`echo` carries binary payloads).
fn split_command(payload: &[u8]) -> Result<(&str, Option<&[u8]>)> {
    let (command, argument) = match payload.iter().position(|&b| b == b' ') {
        Some(at) => (&payload[..at], Some(&payload[at + 1..])),
        None => (payload, None),
    };
    let command = std::str::from_utf8(command).map_err(|_| {
        Error::other("the chaos command (the payload up to its first space) is not UTF-8")
    })?;
    Ok((command.trim(), argument))
}

fn parse_argument(argument: &[u8]) -> Value {
    serde_json::from_slice(argument)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(argument).into_owned()))
}

fn exhaust_memory() -> ! {
    let mut chunks = Vec::new();
    loop {
        // Writing every chunk makes the guest really grow its memory; black_box keeps the
        // optimizer from dropping allocations nobody reads.
        chunks.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
}

fn write_logs(topic: &str) {
    log::trace(format!("chaos trace line for {topic}"));
    log::debug(format!("chaos debug line for {topic}"));
    log::info(format!("chaos info line for {topic}"));
    log::warn(format!("chaos warn line for {topic}"));
    log::error(format!("chaos error line for {topic}"));
    println!("chaos stdout line for {topic}");
    eprintln!("chaos stderr line for {topic}");
}

fn echo(msg: &Message) -> Result<()> {
    objects::create(
        "Echo",
        &Echo {
            topic: &msg.topic,
            size: msg.payload.len(),
            text: msg.text().ok(),
        },
    )?;
    messaging::publish(&msg.client_id, &format!("echo/{}", msg.topic), &msg.payload)
}

/// Checks that every read sees the writes made earlier in the same invocation.
fn read_back() -> Result<()> {
    let kept = objects::create("ReadBack", &json!({"role": "kept", "v": 1}))?;
    expect_v(&kept, 1, "get after create")?;

    let found: Vec<ReadBack> =
        objects::find("ReadBack", &Query::new().eq("role", "kept").eq("v", 1))?;
    if !found.iter().any(|o| o.id == kept) {
        return Err(Error::other(format!(
            "find after create did not return the new object `{kept}`"
        )));
    }

    objects::update(&kept, &json!({"v": 2}))?;
    expect_v(&kept, 2, "get after update")?;

    let doomed = objects::create("ReadBack", &json!({"role": "deleted", "v": 1}))?;
    if !objects::delete(&doomed)? {
        return Err(Error::other(format!(
            "delete did not find the object `{doomed}` created just before"
        )));
    }
    if objects::get::<Object>(&doomed)?.is_some() {
        return Err(Error::other(format!(
            "get after delete still returns `{doomed}`"
        )));
    }
    Ok(())
}

fn expect_v(id: &str, expected: i64, step: &str) -> Result<()> {
    match objects::get::<ReadBack>(id)? {
        Some(o) if o.v == expected => Ok(()),
        Some(o) => Err(Error::other(format!(
            "{step}: object `{id}` has v = {}, expected {expected}",
            o.v
        ))),
        None => Err(Error::other(format!("{step}: object `{id}` is missing"))),
    }
}

/// Calls the host with bad input and stores which kind of error each call got.
fn bad_calls() -> Result<()> {
    // The SDK only sends well-formed JSON, so this call goes through the raw bindings.
    let create = raw_objects::create("BadCallsTarget", "{not json")
        .map_err(Error::from)
        .err();
    let update = objects::update("no-such-object", &json!({"v": 1})).err();
    let publish = messaging::publish("no-such-client", "chaos/bad", "x").err();
    let kind = |error: Option<Error>| error.as_ref().map_or("ok", Error::kind);
    objects::create(
        "BadCalls",
        &BadCalls {
            create: kind(create),
            update: kind(update),
            publish: kind(publish),
        },
    )
    .map(drop)
}

/// Adds one to the `count` of the object named by the argument, from the value read.
fn increment(argument: Option<&[u8]>) -> Result<()> {
    let id = std::str::from_utf8(argument.unwrap_or_default())
        .map_err(|_| Error::other("incr takes an object id"))?
        .trim();
    let object: Object =
        objects::get(id)?.ok_or_else(|| Error::other(format!("incr: no object `{id}`")))?;
    let count = object.get("count").and_then(Value::as_i64).unwrap_or(0);
    objects::update(id, &json!({"count": count + 1}))
}

/// Links message `n` of `topic` to the latest link of that topic.
fn link(topic: &str, argument: Option<&[u8]>) -> Result<()> {
    let n = argument.map(parse_argument).unwrap_or_default();
    let latest = json!({"filters": {"topic": topic}, "sort": "n", "order": "desc", "limit": 1});
    let found: Vec<Object> = objects::find("Link", &latest)?;
    let prev = found.first().and_then(|link| link.get("n").cloned());
    objects::create("Link", &json!({"topic": topic, "n": n, "prev": prev})).map(drop)
}

/// A few milliseconds of arithmetic the optimizer cannot skip.
fn busy_work() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..2_000_000u64 {
        x = std::hint::black_box(x.rotate_left(5) ^ i).wrapping_mul(0x5851_f42d_4c95_7f2d);
    }
    std::hint::black_box(x);
}

switchyard_sdk::handler!(chaos);
