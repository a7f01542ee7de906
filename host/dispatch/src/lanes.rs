//! Order per subscriber and topic: each message's callback for a subscriber takes its place in
//! that subscriber's lane for the topic when the message is dispatched, and runs once the one
//! before it is done. Different lanes run concurrently, so a slow or looping callback delays
//! only its own lane, not the other subscribers of the client or its other topics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The lanes with work in them; a lane disappears when its last turn ends.
#[derive(Default)]
pub(crate) struct Lanes {
    map: Mutex<HashMap<String, Lane>>,
}

#[derive(Default)]
struct Lane {
    /// Turns taken and not yet ended.
    taken: usize,
    /// Fires when the lane's latest turn ends.
    tail: Option<oneshot::Receiver<()>>,
}

/// One place in a lane: [`Turn::wait`] until the turn before it ends; dropping it ends it.
pub(crate) struct Turn {
    lanes: Arc<Lanes>,
    key: String,
    before: Option<oneshot::Receiver<()>>,
    done: Option<oneshot::Sender<()>>,
}

impl Lanes {
    /// Takes the next place in lane `key`, now, so places follow the order of the calls.
    pub(crate) fn enter(self: &Arc<Self>, key: String) -> Turn {
        let (done, after) = oneshot::channel();
        let mut map = self.map.lock().expect("lane map");
        let lane = map.entry(key.clone()).or_default();
        lane.taken += 1;
        let before = lane.tail.replace(after);
        Turn {
            lanes: self.clone(),
            key,
            before,
            done: Some(done),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().expect("lane map").len()
    }
}

impl Turn {
    /// Resolves once every earlier turn in the lane has ended (finished or been dropped).
    pub(crate) async fn wait(&mut self) {
        if let Some(before) = self.before.take() {
            // An error only means the earlier turn was dropped: it has ended all the same.
            let _ = before.await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        let mut map = self.lanes.map.lock().expect("lane map");
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
                order.lock().unwrap().push(n);
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [3, 1, 2, 4]);
        assert_eq!(lanes.len(), 0, "finished lanes are removed");
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
