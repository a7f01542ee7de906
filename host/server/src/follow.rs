//! What another instance sharing the store changed in what this one keeps in memory: tenants
//! (their quotas) and plugins. Objects (clients, subscribers) need nothing here: the store
//! announces other instances' object changes like this instance's own.

use switchyard_plugins::Plugins;
use switchyard_store::{SpaceChange, Store};
use switchyard_tenants::Tenants;
use tokio::sync::broadcast::error::RecvError;

/// Follows other instances' changes until the store goes away.
pub(crate) async fn follow(store: Store, tenants: Tenants, plugins: Plugins) {
    let mut changes = store.space_changes();
    loop {
        let change = match changes.recv().await {
            Ok(change) => change,
            Err(RecvError::Lagged(_)) => SpaceChange::Missed,
            Err(RecvError::Closed) => return,
        };
        let (tenants, plugins) = (tenants.clone(), plugins.clone());
        // Loading a plugin compiles it: off the async threads.
        let applied = tokio::task::spawn_blocking(move || {
            for tenant in tenants.heard(&change)? {
                plugins.requota(&tenant);
            }
            plugins.heard(&change).map_err(anyhow::Error::from)
        });
        match applied.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("cannot take in another instance's change: {e:#}"),
            Err(e) => tracing::error!("taking in another instance's change failed: {e}"),
        }
    }
}
