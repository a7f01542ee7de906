//! A subscriber sees a topic's messages one at a time: each callback acts on what the ones
//! before it wrote, although the dispatcher invokes later messages' callbacks ahead of their
//! turn (it keeps such a result only if nothing the callback read changed since).

use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use switchyard::Switchyard;
use switchyard_broker::{Incoming, Outcome};
use switchyard_dispatch::{Dispatcher, NativeCallback};
use switchyard_runtime::{Effects, Message};
use switchyard_store::{Query, Store};

/// For payload `n`, finds the topic's latest `Link` with a query and stores
/// `Link {topic, n, prev}`, `prev` being that link's `n`.
struct Chain;

impl NativeCallback for Chain {
    fn handle(&self, message: &Message, effects: &mut Effects) -> Result<(), String> {
        let n: u64 = parse(&message.payload)?;
        let latest = Query::from_json(&json!({
            "filters": {"topic": message.topic},
            "sort": "n", "order": "desc", "limit": 1
        }))
        .map_err(|e| e.to_string())?;
        let page = (effects.writes.query("Link", &latest)).map_err(|e| e.to_string())?;
        let prev = page
            .result
            .first()
            .map_or(Value::Null, |link| link["n"].clone());
        let link = json!({"topic": message.topic, "n": n, "prev": prev});
        effects
            .writes
            .create("Link", link)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// `set <id> <n>` sets the `count` of object `<id>`; `copy <id> <n>` stores `Copy {n, count}`
/// with the object's count as it reads it, without writing the object itself; `need <id> <n>`
/// fails unless the object's count is `n`.
struct Copier;

impl NativeCallback for Copier {
    fn handle(&self, message: &Message, effects: &mut Effects) -> Result<(), String> {
        let text = String::from_utf8(message.payload.clone()).map_err(|e| e.to_string())?;
        let words: Vec<&str> = text.split(' ').collect();
        let writes = &mut effects.writes;
        let result = match words[..] {
            ["set", id, n] => writes.update(id, json!({"count": parse(n.as_bytes())?})),
            ["copy", id, n] => {
                let object = writes.get(id).map_err(|e| e.to_string())?;
                let count = object.map_or(Value::Null, |o| o["count"].clone());
                writes.create("Copy", json!({"n": parse(n.as_bytes())?, "count": count}))
            }
            ["need", id, n] => {
                let object = writes.get(id).map_err(|e| e.to_string())?;
                let count = object.map_or(Value::Null, |o| o["count"].clone());
                return match count == json!(parse(n.as_bytes())?) {
                    true => Ok(()),
                    false => Err(format!("count is {count}, not {n}")),
                };
            }
            _ => return Err(format!("unknown command {text:?}")),
        };
        result.map(drop).map_err(|e| e.to_string())
    }
}

fn parse(payload: &[u8]) -> Result<u64, String> {
    let text = std::str::from_utf8(payload).map_err(|e| e.to_string())?;
    text.parse()
        .map_err(|e| format!("{text:?} is not a count: {e}"))
}

/// A Switchyard in `dir` with `callback` registered under `name` and subscribed to `#` on one
/// client; returns it and the client's id.
fn switchyard(
    dir: &std::path::Path,
    name: &str,
    callback: Arc<dyn NativeCallback>,
) -> (Switchyard, String) {
    let switchyard = (switchyard::Builder::new(dir).native(name, callback))
        .build()
        .unwrap();
    let store = &switchyard.store;
    let client = (store.create("MQTTClient", json!({"mainBrokerURL": "embedded"}))).unwrap();
    let client = client["id"].as_str().unwrap().to_owned();
    let subscriber = json!({"topic": "#", "callback": name, "clients": [client]});
    store.create("MessageSubscriber", subscriber).unwrap();
    (switchyard, client)
}

/// Dispatches every payload on `topic` at once, in order, and waits for all of them.
async fn dispatch_all(dispatcher: &Dispatcher, client: &str, topic: &str, payloads: &[String]) {
    let runs: Vec<_> = (payloads.iter())
        .map(|payload| {
            dispatcher.dispatch(Incoming {
                client_id: client.into(),
                topic: topic.into(),
                payload: payload.as_bytes().to_vec(),
                ..Incoming::default()
            })
        })
        .collect();
    for run in runs {
        let outcome = run.await;
        assert!(matches!(outcome, Outcome::Done), "{outcome:?}");
    }
}

/// The objects of a type by their `n`.
fn all(store: &Store, type_name: &str) -> Vec<Value> {
    let query = Query::from_json(&json!({"sort": "n"})).unwrap();
    let page = store.query(type_name, &query).unwrap();
    page.result.into_iter().map(Value::Object).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_finds_what_the_one_before_it_created() {
    let dir = tempfile::tempdir().unwrap();
    let (switchyard, client) = switchyard(dir.path(), "chain", Arc::new(Chain));
    let payloads: Vec<String> = (1..=200).map(|n| n.to_string()).collect();
    dispatch_all(&switchyard.dispatcher, &client, "chain/a", &payloads).await;

    let links = all(&switchyard.store, "Link");
    assert_eq!(links.len(), 200);
    for link in links {
        let n = link["n"].as_u64().unwrap();
        let expected = if n == 1 { Value::Null } else { json!(n - 1) };
        assert_eq!(
            link["prev"], expected,
            "link {n} follows the one before it: {link}"
        );
    }
}

/// Runs `set <id> n` then `<then> <id> n` for n in 1..=100 on one topic through the copier,
/// over a counter starting at 0; returns the store.
async fn set_then(then: &str, dir: &std::path::Path) -> Store {
    let (switchyard, client) = switchyard(dir, "copier", Arc::new(Copier));
    let store = switchyard.store;
    let counter = store.create("Counter", json!({"count": 0})).unwrap();
    let id = counter["id"].as_str().unwrap();
    let payloads: Vec<String> = (1..=100)
        .flat_map(|n| [format!("set {id} {n}"), format!("{then} {id} {n}")])
        .collect();
    dispatch_all(&switchyard.dispatcher, &client, "copier/a", &payloads).await;
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_reads_what_the_one_before_it_updated() {
    let dir = tempfile::tempdir().unwrap();
    let store = set_then("copy", dir.path()).await;
    let copies: Vec<u64> = (all(&store, "Copy").iter())
        .map(|copy| copy["count"].as_u64().unwrap())
        .collect();
    assert_eq!(copies, (1..=100).collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_ahead_of_its_turn_stands_only_if_what_it_read_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    // Each `need` holds only once the `set` before it is done; `dispatch_all` checks that
    // every message ends `Done`.
    let store = set_then("need", dir.path()).await;
    assert!(all(&store, "FailedMessage").is_empty());
}

/// Runs a `find`, then writes elsewhere in the store itself, as another lane's callback would
/// meanwhile; counts its invocations.
struct Busy {
    store: OnceLock<Store>,
    invocations: AtomicUsize,
}

impl NativeCallback for Busy {
    fn handle(&self, _: &Message, effects: &mut Effects) -> Result<(), String> {
        self.invocations.fetch_add(1, Ordering::SeqCst);
        (effects.writes.query("Link", &Query::default())).map_err(|e| e.to_string())?;
        let store = self.store.get().ok_or("no store yet")?;
        (store.create("Elsewhere", json!({}))).map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_in_its_own_turn_runs_once_however_busy_the_store_is() {
    let dir = tempfile::tempdir().unwrap();
    let busy = Arc::new(Busy {
        store: OnceLock::new(),
        invocations: AtomicUsize::new(0),
    });
    let (switchyard, client) = switchyard(dir.path(), "busy", busy.clone());
    let dispatcher = &switchyard.dispatcher;
    busy.store.set(switchyard.store.clone()).ok();
    // One at a time: each message has the lane to itself, so none is invoked ahead of its turn
    // and none is checked (its own write elsewhere would make a `find` look stale).
    for n in 0..20 {
        dispatch_all(dispatcher, &client, "busy/a", &[n.to_string()]).await;
    }
    assert_eq!(busy.invocations.load(Ordering::SeqCst), 20);
}
