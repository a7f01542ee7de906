//! The instances sharing a store, and the leases they hold: which one runs a client that only
//! one may run at a time. Each instance says it is alive now and then ([`crate::Store::heartbeat`])
//! and holds a lease only as long as it keeps renewing it, so one that dies leaves its leases
//! to the others within their time to live. On an engine no other instance shares, this
//! instance is the only one and holds every lease it asks for.

use parking_lot::Mutex;
use std::collections::BTreeSet;

/// An instance sharing the store, as `GET /api/instances` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub id: String,
    /// Where its API listens.
    pub address: String,
    pub started_at: String,
    pub heartbeat_at: String,
    /// The leases it holds (`client/<tenant>/<id>` for a client it runs).
    pub leases: Vec<String>,
}

/// How long an instance that stopped saying it is alive still counts as live.
pub const LIVE_FOR: std::time::Duration = std::time::Duration::from_secs(15);

/// This instance, as it tells the others, and the leases it holds when nobody shares the store.
pub(crate) struct Me {
    pub id: String,
    pub started_at: String,
    pub address: Mutex<String>,
    pub heartbeat_at: Mutex<String>,
    pub leases: Mutex<BTreeSet<String>>,
}

impl Me {
    pub(crate) fn new() -> Me {
        Me {
            id: crate::record::new_id(),
            started_at: crate::now(),
            address: Mutex::default(),
            heartbeat_at: Mutex::new(crate::now()),
            leases: Mutex::default(),
        }
    }

    /// This instance as the others see it.
    pub(crate) fn instance(&self) -> Instance {
        Instance {
            id: self.id.clone(),
            address: self.address.lock().clone(),
            started_at: self.started_at.clone(),
            heartbeat_at: self.heartbeat_at.lock().clone(),
            leases: self.leases.lock().iter().cloned().collect(),
        }
    }
}
