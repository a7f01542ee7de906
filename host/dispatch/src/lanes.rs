//! Order per subscriber and topic: each message's callback for a subscriber takes its place in
//! that subscriber's lane for the topic when the message is dispatched, and finishes once the
//! one before it is done. Different lanes run concurrently, so a slow or looping callback delays
//! only its own lane, not the other subscribers of the client or its other topics.
//!
//! Within a lane, a turn may start early, while up to [`DEPTH`]` - 1` turns before it are still
//! running: the dispatcher invokes the callback ahead of its turn and keeps what it computed
//! only if nothing it read changed by then (otherwise it runs it again in turn). That keeps the
//! result of one message at a time while a single busy topic uses more than one core.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::watch;

/// How many turns of one lane may run at once. Bounds what a lane holds of the instance pool
/// (a sleeping plugin holds this many slots, not one per queued message) and the work thrown
/// away when an early result turns out stale.
pub(crate) const DEPTH: usize = 4;

/// The lanes with work in them; a lane disappears when its last turn ends.
#[derive(Default)]
pub(crate) struct Lanes {
    map: Mutex<HashMap<String, Lane>>,
}

/// A turn's end, seen from later turns: it closes when the turn is dropped.
type Ended = watch::Receiver<()>;

#[derive(Default)]
struct Lane {
    /// Turns taken and not yet ended.
    taken: usize,
    /// The ends of the latest turns, at most [`DEPTH`], oldest first.
    latest: VecDeque<Ended>,
}

/// One place in a lane: [`Turn::start`] until fewer than [`DEPTH`] turns are ahead of it,
/// [`Turn::wait`] until the turn before it ends; dropping it ends it.
pub(crate) struct Turn {
    lanes: Arc<Lanes>,
    key: String,
    /// The end of the turn [`DEPTH`] places ahead.
    ahead: Option<Ended>,
    /// The end of the turn just before.
    before: Option<Ended>,
    _end: watch::Sender<()>,
}

impl Lanes {
    /// Takes the next place in lane `key`, now, so places follow the order of the calls.
    pub(crate) fn enter(self: &Arc<Self>, key: String) -> Turn {
        let (end, ended) = watch::channel(());
        let mut map = self.map.lock();
        let lane = map.entry(key.clone()).or_default();
        lane.taken += 1;
        let before = lane.latest.back().cloned();
        lane.latest.push_back(ended);
        let ahead = (lane.latest.len() > DEPTH)
            .then(|| lane.latest.pop_front())
            .flatten();
        Turn {
            lanes: self.clone(),
            key,
            ahead,
            before,
            _end: end,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().len()
    }
}

impl Turn {
    /// Resolves once fewer than [`DEPTH`] earlier turns of the lane are still running; says
    /// whether one still is, so the turn starts ahead of its place.
    pub(crate) async fn start(&mut self) -> bool {
        ended(&mut self.ahead).await;
        // Nothing is ever sent: `has_changed` errs once the turn before has ended.
        if (self.before.as_ref()).is_some_and(|before| before.has_changed().is_err()) {
            self.before = None;
        }
        self.before.is_some()
    }

    /// Resolves once every earlier turn in the lane has ended (finished or been dropped).
    pub(crate) async fn wait(&mut self) {
        ended(&mut self.ahead).await;
        ended(&mut self.before).await;
    }
}

/// Waits for a turn's end, and forgets the turn once it ended; safe to cancel and call again.
async fn ended(turn: &mut Option<Ended>) {
    if let Some(end) = turn {
        // Nothing is ever sent: this returns when the sender is dropped, as the turn ends.
        let _ = end.changed().await;
    }
    *turn = None;
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut map = self.lanes.map.lock();
        if let Some(lane) = map.get_mut(&self.key) {
            lane.taken -= 1;
            if lane.taken == 0 {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn turns_in_a_lane_run_in_order_and_lanes_do_not_wait_for_each_other() {
        let lanes = Arc::new(Lanes::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (lane, n, pause) in [("a", 1, 50), ("a", 2, 0), ("b", 3, 0), ("a", 4, 0)] {
            let mut turn = lanes.enter(lane.to_owned());
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                turn.wait().await;
                tokio::time::sleep(Duration::from_millis(pause)).await;
                order.lock().push(n);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock(), [3, 1, 2, 4]);
        assert_eq!(lanes.len(), 0, "finished lanes are removed");
    }

    #[tokio::test]
    async fn a_turn_starts_once_fewer_than_depth_turns_are_ahead() {
        let lanes = Arc::new(Lanes::default());
        let turns: Vec<Turn> = (0..DEPTH + 1).map(|_| lanes.enter("a".into())).collect();
        let mut turns = turns.into_iter();
        let mut first = turns.next().unwrap();
        let mut last = turns.next_back().unwrap();
        let mut second = turns.next().unwrap();
        let early = Duration::from_millis(50);
        assert_eq!(start(&mut first).await, Some(false), "first: in its turn");
        assert_eq!(start(&mut second).await, Some(true), "second: ahead of it");
        assert_eq!(
            start(&mut last).await,
            None,
            "{DEPTH} turns are ahead of the last one"
        );
        drop(first);
        let started = tokio::time::timeout(Duration::from_secs(5), last.start()).await;
        assert_eq!(
            started.ok(),
            Some(true),
            "the first ended, so the last starts, early"
        );
        assert!(tokio::time::timeout(early, last.wait()).await.is_err());
        drop(second);
        drop(turns);
        assert_eq!(start(&mut last).await, Some(false), "now in its turn");
    }

    /// Whether the turn starts ahead of its place, `None` if it cannot start within 50 ms.
    async fn start(turn: &mut Turn) -> Option<bool> {
        tokio::time::timeout(Duration::from_millis(50), turn.start())
            .await
            .ok()
    }

    #[tokio::test]
    async fn a_dropped_turn_lets_the_next_one_go() {
        let lanes = Arc::new(Lanes::default());
        let first = lanes.enter("a".into());
        let mut second = lanes.enter("a".into());
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second.wait())
            .await
            .expect("the second turn runs");
    }
}
