//! Order per subscriber and topic: each message's callback for a subscriber takes its place in
//! that subscriber's lane for the topic when the message is dispatched, and finishes once the
//! one before it is done. Different lanes run concurrently, so a slow or looping callback delays
//! only its own lane, not the other subscribers of the client or its other topics.
//!
//! Within a lane, a turn may start early, while up to [`DEPTH`]` - 1` turns before it are still
//! running: the dispatcher invokes the callback ahead of its turn and keeps what it computed
//! only if nothing it read changed by then (otherwise it runs it again in turn). That keeps the
//! result of one message at a time while a single busy topic uses more than one core.
//!
//! A turn may also leave an item in its lane as it enters ([`Lanes::enter_with`]): the turn
//! that reaches its place first [`Turn::lead`]s it and the items the turns right behind it left,
//! so a callback that takes batches gets the messages that queued while its last call ran.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::watch;

/// How many turns of one lane may run at once. Bounds what a lane holds of the instance pool
/// (a sleeping plugin holds this many slots, not one per queued message) and the work thrown
/// away when an early result turns out stale.
pub(crate) const DEPTH: usize = 4;

/// The lanes with work in them; a lane disappears when its last turn ends. `W` is what a turn
/// may leave for the turn that leads it.
pub(crate) struct Lanes<W> {
    map: Mutex<HashMap<String, Lane<W>>>,
}

impl<W> Default for Lanes<W> {
    fn default() -> Self {
        Lanes {
            map: Mutex::default(),
        }
    }
}

/// A turn's end, seen from later turns: it closes when the turn is dropped.
type Ended = watch::Receiver<()>;

struct Lane<W> {
    /// Turns taken and not yet ended.
    taken: usize,
    /// The ends of the latest turns, at most [`DEPTH`], oldest first.
    latest: VecDeque<Ended>,
    /// The place the next turn takes.
    next: u64,
    /// What turns left, by their places, oldest first; taken by a turn that leads them.
    left: VecDeque<(u64, W)>,
}

impl<W> Default for Lane<W> {
    fn default() -> Self {
        Lane {
            taken: 0,
            latest: VecDeque::new(),
            next: 0,
            left: VecDeque::new(),
        }
    }
}

/// One place in a lane: [`Turn::start`] until fewer than [`DEPTH`] turns are ahead of it,
/// [`Turn::wait`] until the turn before it ends; dropping it ends it.
pub(crate) struct Turn<W> {
    lanes: Arc<Lanes<W>>,
    key: String,
    /// Its place in the lane.
    place: u64,
    /// The end of the turn [`DEPTH`] places ahead.
    ahead: Option<Ended>,
    /// The end of the turn just before.
    before: Option<Ended>,
    _end: watch::Sender<()>,
}

impl<W> Lanes<W> {
    /// Takes the next place in lane `key`, now, so places follow the order of the calls.
    pub(crate) fn enter(self: &Arc<Self>, key: String) -> Turn<W> {
        self.take_place(key, None)
    }

    /// Takes the next place in lane `key`, leaving `item` for the turn that leads it.
    pub(crate) fn enter_with(self: &Arc<Self>, key: String, item: W) -> Turn<W> {
        self.take_place(key, Some(item))
    }

    fn take_place(self: &Arc<Self>, key: String, item: Option<W>) -> Turn<W> {
        let (end, ended) = watch::channel(());
        let mut map = self.map.lock();
        let lane = map.entry(key.clone()).or_default();
        lane.taken += 1;
        let place = lane.next;
        lane.next += 1;
        if let Some(item) = item {
            lane.left.push_back((place, item));
        }
        let before = lane.latest.back().cloned();
        lane.latest.push_back(ended);
        let ahead = (lane.latest.len() > DEPTH)
            .then(|| lane.latest.pop_front())
            .flatten();
        Turn {
            lanes: self.clone(),
            key,
            place,
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

impl<W> Turn<W> {
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

    /// In its turn: the item this turn left and those of the turns right behind it that left
    /// one, up to `max` in all and without a gap; none if a turn ahead already led this one's.
    pub(crate) fn lead(&self, max: usize) -> Vec<W> {
        let mut map = self.lanes.map.lock();
        let Some(lane) = map.get_mut(&self.key) else {
            return Vec::new();
        };
        // Every turn ahead has ended, so what one left and did not lead is stale.
        while (lane.left.front()).is_some_and(|(place, _)| *place < self.place) {
            lane.left.pop_front();
        }
        let mut led = Vec::new();
        while led.len() < max
            && let Some((place, _)) = lane.left.front()
            && *place == self.place + led.len() as u64
        {
            led.extend(lane.left.pop_front().map(|(_, item)| item));
        }
        led
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

impl<W> Drop for Turn<W> {
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
        let lanes = Arc::new(Lanes::<()>::default());
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
        let lanes = Arc::new(Lanes::<()>::default());
        let turns: Vec<Turn<()>> = (0..DEPTH + 1).map(|_| lanes.enter("a".into())).collect();
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
    async fn start(turn: &mut Turn<()>) -> Option<bool> {
        tokio::time::timeout(Duration::from_millis(50), turn.start())
            .await
            .ok()
    }

    #[tokio::test]
    async fn a_turn_leads_the_items_left_right_behind_it() {
        let lanes = Arc::new(Lanes::default());
        let mut first = lanes.enter_with("a".into(), 1);
        let second = lanes.enter_with("a".into(), 2);
        let plain = lanes.enter("a".into());
        let fourth = lanes.enter_with("a".into(), 4);
        let _fifth = lanes.enter_with("a".into(), 5);
        let sixth = lanes.enter_with("a".into(), 6);
        first.wait().await;
        assert_eq!(first.lead(8), [1, 2], "up to the turn that left nothing");
        assert!(second.lead(8).is_empty(), "led already");
        drop((first, second, plain));
        assert_eq!(fourth.lead(2), [4, 5], "at most `max`");
        assert_eq!(sixth.lead(2), [6]);
        let lost = lanes.enter_with("b".into(), 7);
        let next = lanes.enter_with("b".into(), 8);
        drop(lost);
        assert_eq!(
            next.lead(8),
            [8],
            "what an ended turn left unled is passed over"
        );
    }

    #[tokio::test]
    async fn a_dropped_turn_lets_the_next_one_go() {
        let lanes = Arc::new(Lanes::<()>::default());
        let first = lanes.enter("a".into());
        let mut second = lanes.enter("a".into());
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second.wait())
            .await
            .expect("the second turn runs");
    }
}
