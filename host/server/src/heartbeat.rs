//! This instance's heartbeat: tells the other instances sharing the store that it is alive
//! and where its API listens, for `GET /api/instances`.

use std::time::Duration;
use switchyard_model::Report;
use switchyard_store::Store;

/// Between heartbeats: well within the time after which an instance counts as gone.
const BEAT: Duration = Duration::from_secs(3);

pub(crate) async fn heartbeat(store: Store, address: String) {
    let mut beats = tokio::time::interval(BEAT);
    beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        beats.tick().await;
        let (store, address) = (store.clone(), address.clone());
        match tokio::task::spawn_blocking(move || store.heartbeat(&address)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cannot record this instance's heartbeat: {}", Report(&e)),
            Err(e) => tracing::warn!("recording this instance's heartbeat failed: {e}"),
        }
    }
}
