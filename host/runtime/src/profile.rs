//! Where invocations spend their time, summed per phase over the life of the process: waiting
//! for an instance slot, setting up the sandbox (WASI context, wasmtime store), instantiating,
//! the guest's own code, each kind of host import, and tearing down (dropping the store, which
//! resets the pool slot); the dispatcher adds its commit and its publishes. Each phase costs
//! two clock reads, against an invocation of about ten microseconds. `switchyard-bench` takes
//! a [`snapshot`] before and after a run and prints the split per invocation, so the next
//! lever is chosen on numbers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A phase of an invocation or of what the dispatcher does with its effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Admission,
    Setup,
    Instantiate,
    /// The whole call: instantiation, the guest's code and its host imports (the split
    /// subtracts the others).
    Call,
    ObjectsGet,
    ObjectsFind,
    ObjectsWrite,
    MessagingPublish,
    MessagingSubscribe,
    Logging,
    Teardown,
    Commit,
    Publish,
}

impl Phase {
    const ALL: [Phase; 13] = [
        Phase::Admission,
        Phase::Setup,
        Phase::Instantiate,
        Phase::Call,
        Phase::ObjectsGet,
        Phase::ObjectsFind,
        Phase::ObjectsWrite,
        Phase::MessagingPublish,
        Phase::MessagingSubscribe,
        Phase::Logging,
        Phase::Teardown,
        Phase::Commit,
        Phase::Publish,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Admission => "waiting for an instance slot",
            Phase::Setup => "sandbox setup (WASI context, store)",
            Phase::Instantiate => "instantiate",
            Phase::Call => "guest code",
            Phase::ObjectsGet => "import objects.get",
            Phase::ObjectsFind => "import objects.find",
            Phase::ObjectsWrite => "import objects.create/update/delete",
            Phase::MessagingPublish => "import messaging.publish",
            Phase::MessagingSubscribe => "import messaging.subscribe/unsubscribe",
            Phase::Logging => "import logging.log",
            Phase::Teardown => "teardown (drop, slot reset)",
            Phase::Commit => "commit (waiting for its group included)",
            Phase::Publish => "publishes handed to the broker",
        }
    }

    /// Whether the phase runs inside [`Phase::Call`].
    fn is_import(self) -> bool {
        matches!(
            self,
            Phase::ObjectsGet
                | Phase::ObjectsFind
                | Phase::ObjectsWrite
                | Phase::MessagingPublish
                | Phase::MessagingSubscribe
                | Phase::Logging
        )
    }
}

static NANOS: [AtomicU64; 13] = [const { AtomicU64::new(0) }; 13];
static TIMES: [AtomicU64; 13] = [const { AtomicU64::new(0) }; 13];

/// Adds `elapsed` to `phase`.
pub fn record(phase: Phase, elapsed: Duration) {
    let i = phase as usize;
    NANOS[i].fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    TIMES[i].fetch_add(1, Ordering::Relaxed);
}

/// Adds the time since `started` to `phase`; now, to start the next one.
pub(crate) fn since(phase: Phase, started: Instant) -> Instant {
    let now = Instant::now();
    record(phase, now - started);
    now
}

/// The totals so far: per phase, its time and how many times it ran.
#[derive(Clone, Debug, Default)]
pub struct Snapshot(Vec<(Phase, Duration, u64)>);

/// The totals so far.
pub fn snapshot() -> Snapshot {
    Snapshot(
        (Phase::ALL.iter())
            .map(|&phase| {
                let i = phase as usize;
                let nanos = NANOS[i].load(Ordering::Relaxed);
                (
                    phase,
                    Duration::from_nanos(nanos),
                    TIMES[i].load(Ordering::Relaxed),
                )
            })
            .collect(),
    )
}

impl Snapshot {
    /// What happened between `earlier` and this one, per phase: its name and its mean time
    /// per `per` (invocations), the guest's own code without the imports it called. Phases
    /// that never ran are left out.
    pub fn since(&self, earlier: &Snapshot, per: u64) -> Vec<(&'static str, Duration)> {
        let delta = |phase: Phase| {
            let now = self.0.iter().find(|(p, ..)| *p == phase);
            let then = earlier.0.iter().find(|(p, ..)| *p == phase);
            let (now, then) = (
                now.map_or((Duration::ZERO, 0), |e| (e.1, e.2)),
                then.map_or((Duration::ZERO, 0), |e| (e.1, e.2)),
            );
            (now.0.saturating_sub(then.0), now.1 - then.1)
        };
        let inside: Duration = (Phase::ALL.iter())
            .filter(|phase| phase.is_import() || **phase == Phase::Instantiate)
            .map(|&phase| delta(phase).0)
            .sum();
        let per = per.max(1) as u32;
        (Phase::ALL.iter())
            .filter_map(|&phase| {
                let (time, times) = delta(phase);
                let time = match phase {
                    Phase::Call => time.saturating_sub(inside),
                    _ => time,
                };
                (times > 0).then(|| (phase.name(), time / per))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_code_is_the_call_without_instantiation_and_imports() {
        let ms = Duration::from_millis;
        let earlier = Snapshot(vec![(Phase::Call, ms(100), 10)]);
        let now = Snapshot(vec![
            (Phase::Setup, ms(20), 10),
            (Phase::Instantiate, ms(30), 10),
            (Phase::Call, ms(200), 20),
            (Phase::ObjectsGet, ms(10), 10),
            (Phase::MessagingPublish, ms(20), 10),
        ]);
        let split = now.since(&earlier, 10);
        assert_eq!(
            split,
            [
                ("sandbox setup (WASI context, store)", ms(2)),
                ("instantiate", ms(3)),
                ("guest code", ms(4)),
                ("import objects.get", ms(1)),
                ("import messaging.publish", ms(2)),
            ],
            "the call's 100 ms less 30 + 10 + 20 ms, per invocation"
        );
    }
}
