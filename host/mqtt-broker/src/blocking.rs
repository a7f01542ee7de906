//! Store writes off the async threads: a space write is durable (it syncs), so it runs on
//! Tokio's blocking pool and the caller awaits it.

use std::sync::Arc;
use switchyard_store::{Error, Result, Space};

/// Sets (`Some`) and removes (`None`) entries of `space` atomically and durably.
pub(crate) async fn write(
    space: Space,
    doing: &'static str,
    entries: Vec<(String, Option<Vec<u8>>)>,
) -> Result<()> {
    let written = tokio::task::spawn_blocking(move || {
        let entries: Vec<(&str, Option<&[u8]>)> = (entries.iter())
            .map(|(key, value)| (key.as_str(), value.as_deref()))
            .collect();
        space.write(&entries)
    });
    written.await.unwrap_or_else(|e| {
        Err(Error::Storage {
            doing,
            source: Arc::new(e),
        })
    })
}

/// Reads the entries of `space` under `prefix`, in key order.
pub(crate) async fn list(space: Space, prefix: String) -> Result<Vec<(String, Vec<u8>)>> {
    let listed = tokio::task::spawn_blocking(move || space.list(&prefix));
    listed.await.unwrap_or_else(|e| {
        Err(Error::Storage {
            doing: "reading a device session",
            source: Arc::new(e),
        })
    })
}
