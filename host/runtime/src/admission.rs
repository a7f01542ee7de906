//! The instance pool's slots, shared fairly between tenants: an invocation waits for a slot
//! instead of failing to instantiate, no tenant holds more than three quarters of the pool (so
//! a tenant whose plugin sleeps on every message leaves room for the others), and when slots
//! are scarce the next one goes to the waiting tenant that holds the fewest, first come first
//! served within a tenant.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::oneshot;

pub(crate) struct Admission {
    total: usize,
    /// What one tenant may hold at most.
    per_tenant: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    in_use: usize,
    tenants: HashMap<Arc<str>, Tenant>,
    /// Numbers waiters in arrival order, across tenants.
    next_ticket: u64,
}

#[derive(Default)]
struct Tenant {
    in_use: usize,
    waiting: VecDeque<(u64, oneshot::Sender<Slot>)>,
}

/// A held slot; dropping it frees it for the next waiter.
pub(crate) struct Slot {
    admission: Arc<Admission>,
    tenant: Arc<str>,
}

impl Admission {
    pub(crate) fn new(total: usize) -> Arc<Admission> {
        Arc::new(Admission {
            total,
            per_tenant: (total - total / 4).max(1),
            state: Mutex::default(),
        })
    }

    /// A slot for an invocation of `tenant`, if one is free for it now.
    pub(crate) fn try_acquire(self: &Arc<Self>, tenant: &Arc<str>) -> Option<Slot> {
        let mut state = self.state.lock();
        self.free_for(&state, tenant)
            .then(|| self.grant(&mut state, tenant))
    }

    /// Whether `tenant` may take a slot without waiting: one is free, it is under its cap,
    /// and none of its invocations waits before it.
    fn free_for(&self, state: &State, tenant: &Arc<str>) -> bool {
        let (holds, waiters) = state
            .tenants
            .get(tenant)
            .map_or((0, false), |t| (t.in_use, !t.waiting.is_empty()));
        state.in_use < self.total && holds < self.per_tenant && !waiters
    }

    /// A slot for an invocation of `tenant`, once one is free for it.
    pub(crate) async fn acquire(self: &Arc<Self>, tenant: &Arc<str>) -> Slot {
        let waiting = {
            let mut state = self.state.lock();
            if self.free_for(&state, tenant) {
                return self.grant(&mut state, tenant);
            }
            let (send, receive) = oneshot::channel();
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            let entry = state.tenants.entry(tenant.clone()).or_default();
            entry.waiting.push_back((ticket, send));
            receive
        };
        // The sender lives in the state until it is sent a slot; it is never dropped unsent.
        waiting.await.expect("a waiter is sent its slot")
    }

    fn grant(self: &Arc<Self>, state: &mut State, tenant: &Arc<str>) -> Slot {
        state.in_use += 1;
        state.tenants.entry(tenant.clone()).or_default().in_use += 1;
        Slot {
            admission: self.clone(),
            tenant: tenant.clone(),
        }
    }

    /// Frees a slot of `tenant` and hands free slots to waiters.
    fn release(self: &Arc<Self>, tenant: &Arc<str>) {
        let mut unwanted = Vec::new();
        {
            let mut state = self.state.lock();
            state.in_use -= 1;
            if let Some(entry) = state.tenants.get_mut(tenant) {
                entry.in_use -= 1;
            }
            while state.in_use < self.total {
                let Some((next, send)) = self.next_waiter(&mut state) else {
                    break;
                };
                let slot = self.grant(&mut state, &next);
                // A waiter that gave up hands its slot back: freed below, once unlocked.
                if let Err(slot) = send.send(slot) {
                    unwanted.push(slot);
                }
            }
            state
                .tenants
                .retain(|_, t| t.in_use > 0 || !t.waiting.is_empty());
        }
        drop(unwanted);
    }

    /// The waiter to serve next: of the tenants under their cap, the one holding the fewest
    /// slots, and within it the one that came first.
    fn next_waiter(&self, state: &mut State) -> Option<(Arc<str>, oneshot::Sender<Slot>)> {
        let tenant = (state.tenants.iter())
            .filter(|(_, t)| t.in_use < self.per_tenant)
            .filter_map(|(name, t)| Some((t.in_use, t.waiting.front()?.0, name)))
            .min()
            .map(|(_, _, name)| name.clone())?;
        let (_, send) = state.tenants.get_mut(&tenant)?.waiting.pop_front()?;
        Some((tenant, send))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.release(&self.tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn soon<T>(wait: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::time::timeout(Duration::from_millis(50), wait)
            .await
            .ok()
    }

    #[tokio::test]
    async fn no_tenant_takes_the_whole_pool_and_a_freed_slot_goes_to_the_tenant_holding_fewest() {
        let admission = Admission::new(4);
        let (busy, quiet): (Arc<str>, Arc<str>) = (Arc::from("busy"), Arc::from("quiet"));
        let mut held: Vec<Slot> = Vec::new();
        for _ in 0..3 {
            held.push(admission.acquire(&busy).await);
        }
        assert!(
            soon(admission.acquire(&busy)).await.is_none(),
            "3 of 4 is its most"
        );
        let quiet_one = soon(admission.acquire(&quiet))
            .await
            .expect("the last slot");
        // The pool is full: the next slot freed goes to `quiet` (1 held), not `busy` (3).
        let busy_waits = tokio::spawn({
            let (admission, busy) = (admission.clone(), busy.clone());
            async move { admission.acquire(&busy).await }
        });
        let quiet_waits = tokio::spawn({
            let (admission, quiet) = (admission.clone(), quiet.clone());
            async move { admission.acquire(&quiet).await }
        });
        tokio::task::yield_now().await;
        drop(held.pop());
        let quiet_two = soon(quiet_waits).await.expect("quiet's turn").unwrap();
        assert!(!busy_waits.is_finished());
        drop((quiet_one, quiet_two));
        soon(busy_waits).await.expect("then busy's").unwrap();
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_keep_a_slot() {
        let admission = Admission::new(1);
        let tenant: Arc<str> = Arc::from("t");
        let first = admission.acquire(&tenant).await;
        assert!(soon(admission.acquire(&tenant)).await.is_none());
        drop(first);
        soon(admission.acquire(&tenant))
            .await
            .expect("the slot is free again");
    }
}
