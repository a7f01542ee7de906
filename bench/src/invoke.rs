//! What the sandbox costs per message before a plugin does any work: instantiate the `noop`
//! plugin, call its handler, drop the instance, timed one invocation at a time.

use std::time::{Duration, Instant};
use switchyard_model::DEFAULT_TENANT;
use switchyard_runtime::Message;
use switchyard_test_support::plugins;

/// The p50 and p99 of `count` invocations of an empty handler.
pub async fn overhead(count: usize) -> anyhow::Result<(Duration, Duration)> {
    let dir = tempfile::tempdir()?;
    let switchyard = switchyard::Builder::new(dir.path()).build()?;
    let plugins = switchyard.dispatcher.callbacks().plugins();
    plugins.install(
        DEFAULT_TENANT,
        "noop",
        &std::fs::read(plugins::plugin("noop"))?,
    )?;
    let noop = plugins.get(DEFAULT_TENANT, "noop").expect("just installed");
    let message = Message {
        topic: "bench".into(),
        payload: b"{}".to_vec(),
        ..Message::default()
    };
    let mut times = Vec::with_capacity(count);
    for i in 0..count + 1000 {
        let start = Instant::now();
        let writes = switchyard.store.begin();
        (plugins
            .runtime()
            .invoke(&noop.plugin, message.clone(), writes)
            .await)
            .map_err(|failure| failure.error)?;
        // The first thousand warm the pool's slots and caches.
        if i >= 1000 {
            times.push(start.elapsed());
        }
    }
    times.sort();
    let pick = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    Ok((pick(0.5), pick(0.99)))
}
