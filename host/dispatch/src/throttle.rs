//! Each tenant's `invocationsPerSecond`: callbacks past a tenant's rate wait their turn, so one
//! tenant's flood delays its own lanes and leaves the others' alone. A callback that waits
//! holds its lane (order is kept) and, through the consumer's bounded window, slows that
//! tenant's clients down instead of piling messages up in memory.
//!
//! The rate is kept as a generic cell rate (GCRA): one instant per tenant, the time its next
//! callback would be on schedule, with up to a second's worth of callbacks let through at once.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::Duration;
use switchyard_tenants::Tenants;
use tokio::time::Instant;

/// Up to this much of a tenant's rate may start at once after a quiet spell.
const BURST: Duration = Duration::from_secs(1);

pub(crate) struct Throttle {
    tenants: Tenants,
    /// By tenant: when its next callback is due at its rate.
    due: Mutex<HashMap<String, Instant>>,
}

impl Throttle {
    pub fn new(tenants: Tenants) -> Throttle {
        Throttle {
            tenants,
            due: Mutex::default(),
        }
    }

    /// Resolves when `tenant` may start one more callback.
    pub async fn admit(&self, tenant: &str) {
        let Some(rate) = self.tenants.quotas(tenant).invocations_per_second else {
            return;
        };
        if let Some(wait) = self.reserve(tenant, rate, Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes `tenant`'s next place at `rate` per second; how long to wait for it, if at all.
    fn reserve(&self, tenant: &str, rate: u64, now: Instant) -> Option<Duration> {
        let interval = Duration::from_secs(1) / u32::try_from(rate.max(1)).unwrap_or(u32::MAX);
        let mut due = self.due.lock();
        let next = due.entry(tenant.to_owned()).or_insert(now);
        let start = (*next).max(now);
        *next = start + interval;
        let wait = start.saturating_duration_since(now);
        (wait > BURST.saturating_sub(interval)).then(|| wait - BURST.saturating_sub(interval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_tenants::Quotas;

    #[test]
    fn a_burst_of_one_second_passes_then_callbacks_wait_their_turn() {
        let dir = tempfile::tempdir().unwrap();
        let store = switchyard_store::Store::open(dir.path(), Default::default()).unwrap();
        let throttle = Throttle::new(Tenants::open(&store, Quotas::default()).unwrap());
        let now = Instant::now();
        let waits: Vec<Option<Duration>> =
            (0..12).map(|_| throttle.reserve("a", 10, now)).collect();
        assert!(waits[..10].iter().all(Option::is_none), "{waits:?}");
        assert_eq!(waits[10], Some(Duration::from_millis(100)));
        assert_eq!(waits[11], Some(Duration::from_millis(200)));
        assert_eq!(
            throttle.reserve("b", 10, now),
            None,
            "another tenant's own rate"
        );
        let later = now + Duration::from_secs(3);
        assert_eq!(
            throttle.reserve("a", 10, later),
            None,
            "the burst comes back"
        );
    }
}
