//! A callback that panics fails like one that returns an error: the message behind it on the
//! same topic is processed, the panicking one is retried and then recorded as a
//! `FailedMessage` with the panic's message, and nothing stays locked for later messages.

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use switchyard_broker::{Incoming, Outcome};
use switchyard_dispatch::NativeCallback;
use switchyard_runtime::{Effects, Message};
use switchyard_store::Query;
use switchyard_test_support::eventually;

/// Stores `Seen {n}` for payload `n`; panics on `boom`.
struct Panicky;

impl NativeCallback for Panicky {
    fn handle(&self, message: &Message, effects: &mut Effects) -> Result<(), String> {
        let text = String::from_utf8_lossy(&message.payload);
        if text == "boom" {
            panic!("the callback blew up on {text}");
        }
        let seen = json!({"n": text.parse::<u64>().map_err(|e| e.to_string())?});
        effects
            .writes
            .create("Seen", seen)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_callback_is_retried_then_recorded_and_the_next_messages_run() {
    let dir = tempfile::tempdir().unwrap();
    let switchyard = switchyard::Builder::new(dir.path())
        .native("panicky", Arc::new(Panicky))
        .build()
        .unwrap();
    let running = switchyard.start();
    let (store, dispatcher) = (&switchyard.store, &switchyard.dispatcher);
    let client = (store.create("MQTTClient", json!({"mainBrokerURL": "embedded"}))).unwrap();
    let client = client["id"].as_str().unwrap().to_owned();
    let subscriber = json!({"topic": "#", "callback": "panicky", "clients": [client],
                            "maxAttempts": 2, "retryDelayMs": 10});
    let subscriber = store.create("MessageSubscriber", subscriber).unwrap();

    // All on one topic, in one lane: the panic sits between the others.
    let runs: Vec<_> = (["1", "boom", "2", "3"].iter())
        .map(|payload| {
            dispatcher.dispatch(Incoming {
                client_id: client.clone(),
                topic: "lane/a".into(),
                payload: payload.as_bytes().to_vec(),
                ..Incoming::default()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for run in runs {
        outcomes.push(run.await);
    }
    assert!(
        matches!(
            outcomes[..],
            [
                Outcome::Done,
                Outcome::Failed { callbacks: 1 },
                Outcome::Done,
                Outcome::Done
            ]
        ),
        "{outcomes:?}"
    );
    let seen = |store: &switchyard_store::Store| {
        let query = Query::from_json(&json!({"sort": "n"})).unwrap();
        let page = store.query("Seen", &query).unwrap();
        (page.result.iter())
            .map(|o| o["n"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(seen(store), [1, 2, 3]);

    let failed = eventually(
        "the panicking message recorded as failed",
        Duration::from_secs(20),
        || async {
            let page = store.query("FailedMessage", &Query::default()).unwrap();
            page.result.into_iter().next()
        },
    )
    .await;
    assert_eq!(failed["subscriber"], subscriber["id"]);
    assert_eq!(failed["payload"], "boom");
    assert_eq!(failed["attempts"], 2, "retried once after the first panic");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("the callback panicked: the callback blew up on boom"),
        "{error}"
    );

    // The lane and everything the panic passed through still work.
    let after = dispatcher.dispatch(Incoming {
        client_id: client.clone(),
        topic: "lane/a".into(),
        payload: b"4".to_vec(),
        ..Incoming::default()
    });
    assert!(matches!(after.await, Outcome::Done));
    assert_eq!(seen(store), [1, 2, 3, 4]);
    running.stop().await.unwrap();
}
