//! Instance reuse, opted into per plugin (`limits.reuse`): an instance that handled a message
//! cleanly is parked for the next message of the same subscriber instead of being dropped, so
//! that message skips instantiation and the slot reset, and the plugin may keep state in its
//! memory between messages.
//!
//! Parked instances belong to their [`crate::Plugin`] and are kept by subscriber, so one never
//! serves another subscriber or tenant, and a plugin uploaded again or given new settings
//! starts afresh. An instance is not parked again after a failure, a trap, a timeout, a tripped
//! limit or its `messages`-th message. Each parked instance holds its instance-pool slot, so
//! they are let go after `idleMs` (the sweeper looks every [`SWEEP`]) and at once whenever an
//! invocation would otherwise wait for a slot.

use crate::Handler;
use crate::admission::Slot;
use crate::limits::Reuse;
use crate::sandbox::Sandbox;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, Once, Weak};
use std::time::{Duration, Instant};

/// How often idle instances are looked for.
const SWEEP: Duration = Duration::from_millis(20);

/// An instance between messages, with everything it keeps.
pub(crate) struct Warm {
    pub store: wasmtime::Store<Sandbox>,
    /// `None` only until its first message instantiates it.
    pub handler: Option<Handler>,
    /// Messages it has handled.
    pub served: u32,
    pub parked_at: Instant,
    /// Declared after the store so the pool has the instance back before the slot is offered.
    pub _slot: Slot,
}

/// One plugin's parked instances, by subscriber.
pub(crate) struct Parking {
    reuse: Reuse,
    by_subscriber: Mutex<HashMap<String, Vec<Warm>>>,
    /// Set once the sweeper knows this parking.
    registered: Once,
}

impl Parking {
    pub(crate) fn new(reuse: Reuse) -> Parking {
        Parking {
            reuse,
            by_subscriber: Mutex::default(),
            registered: Once::new(),
        }
    }

    /// The most recently parked instance of `subscriber`, if one is still fresh enough.
    pub(crate) fn take(&self, subscriber: &str) -> Option<Warm> {
        let mut parked = self.by_subscriber.lock();
        let warm = parked.get_mut(subscriber)?.pop();
        if parked.get(subscriber).is_some_and(Vec::is_empty) {
            parked.remove(subscriber);
        }
        drop(parked);
        warm.filter(|warm| warm.parked_at.elapsed() < self.reuse.idle())
    }

    /// Parks an instance that just handled a message cleanly, unless it has served its last.
    pub(crate) fn park(self: &Arc<Self>, lots: &Lots, subscriber: &str, mut warm: Warm) {
        if warm.served >= self.reuse.messages {
            return;
        }
        self.registered.call_once(|| lots.add(Arc::downgrade(self)));
        warm.parked_at = Instant::now();
        let mut parked = self.by_subscriber.lock();
        parked.entry(subscriber.to_owned()).or_default().push(warm);
    }

    /// Drops the instances idle for longer than the plugin allows, or all of them, once the
    /// lock is let go.
    fn let_go(&self, all: bool) {
        let cutoff = Instant::now().checked_sub(self.reuse.idle());
        let old = |warm: &Warm| all || cutoff.is_some_and(|cutoff| warm.parked_at < cutoff);
        let mut gone = Vec::new();
        self.by_subscriber.lock().retain(|_, warms| {
            let (expired, kept): (Vec<_>, Vec<_>) = warms.drain(..).partition(old);
            gone.extend(expired);
            *warms = kept;
            !warms.is_empty()
        });
        drop(gone);
    }
}

/// Every plugin's parking that has held an instance, for the sweeper and for shedding.
#[derive(Default)]
pub(crate) struct Lots {
    parkings: Mutex<Vec<Weak<Parking>>>,
}

impl Lots {
    /// Starts the thread that lets idle instances go, until `lots` is dropped.
    pub(crate) fn start_sweeper(lots: &Arc<Lots>) {
        let weak = Arc::downgrade(lots);
        std::thread::Builder::new()
            .name("switchyard-reuse".into())
            .spawn(move || {
                while let Some(lots) = weak.upgrade() {
                    lots.sweep(false);
                    drop(lots);
                    std::thread::sleep(SWEEP);
                }
            })
            .expect("spawning the reuse sweeper");
    }

    fn add(&self, parking: Weak<Parking>) {
        self.parkings.lock().push(parking);
    }

    /// Lets every parked instance go: an invocation is waiting for a slot they hold.
    pub(crate) fn shed(&self) {
        self.sweep(true);
    }

    fn sweep(&self, all: bool) {
        let live: Vec<Arc<Parking>> = {
            let mut parkings = self.parkings.lock();
            parkings.retain(|p| p.strong_count() > 0);
            parkings.iter().filter_map(Weak::upgrade).collect()
        };
        for parking in live {
            parking.let_go(all);
        }
    }
}
