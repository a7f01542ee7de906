//! Live change feeds: after a feed opens, every create, update or delete of one type in one
//! tenant that matches the feed's filters (made over REST, by a plugin, over MQTT, or on
//! another instance sharing the store) comes out of it, in commit order. Data over MQTT's
//! subscriptions publish them; `GET /api/objects/{Type}/changes` streams them as server-sent
//! events.
//!
//! Filters are evaluated here, on the object as it is when its change is heard (read once for
//! every feed of its type; a feed that falls behind sees the latest state, not each step, so
//! an object created and moved out before it was heard is never told). Each feed remembers which objects
//! it last saw matching (those matching when it opened, and those it sent since; up to
//! [`TRACKED`]), so an update that moves one out of the filter comes once, and a delete comes
//! for the objects it knew. Each feed has a bounded queue of its own; when it is full (a reader
//! slower than the changes) the notices that do not fit are dropped and one `missed` notice
//! follows, telling the reader to read again. So does a change feed that fell behind, or an
//! instance that lost its connection to the others' changes.
//!
//! Every change this instance hears gets a sequence number, and the last [`RETAINED`] are kept
//! (which object changed how, not its content), so a reader that went away can open a feed
//! again from where it stopped: the changes after it are replayed, with each object as it is
//! now; one that stopped before the window gets `missed` first.

use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use switchyard_store::{Change, ChangeKind, Filter, Query, Store};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

/// Objects a feed remembers as matching, at most.
pub const TRACKED: usize = 10_000;
/// Changes kept to resume from.
pub const RETAINED: usize = 10_000;
/// Notices waiting for their reader, per feed.
const QUEUE: usize = 1_000;

/// One change as a feed's reader gets it.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    /// The change's sequence number on this instance, to resume after; 0 for `missed`.
    pub seq: u64,
    /// `create`, `update`, `delete` or `missed`.
    pub operation: &'static str,
    /// The object as it was when the change was heard, `{id}` for a delete, `null` for
    /// `missed`.
    pub data: Value,
}

impl Notice {
    fn missed() -> Notice {
        Notice {
            seq: 0,
            operation: "missed",
            data: Value::Null,
        }
    }
}

/// What a feed is asked for.
pub struct Wanted {
    pub tenant: String,
    pub entity: String,
    pub filters: Vec<Filter>,
    /// Who holds it, for [`Feeds::held_by`] and [`Feeds::close_all`].
    pub owner: String,
    /// Resume after this sequence number; `None` for changes from now on.
    pub after: Option<u64>,
}

struct Feed {
    owner: String,
    tenant: String,
    entity: String,
    filters: Vec<Filter>,
    /// Objects last seen matching.
    inside: Mutex<HashSet<String>>,
    notices: mpsc::Sender<Notice>,
    /// Set when a notice did not fit: a `missed` one comes next.
    missed: AtomicBool,
}

impl Feed {
    /// Queues a notice, or remembers that one was missed.
    fn notify(&self, notice: Notice) {
        // A closed feed's reader is gone: nothing to tell.
        let full = matches!(
            self.notices.try_send(notice),
            Err(mpsc::error::TrySendError::Full(_))
        );
        if full && !self.missed.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                owner = %self.owner,
                "a change feed is not keeping up: notices dropped, `missed` follows"
            );
        }
    }

    /// The notice `change` makes for this feed, if any: `object` is the changed object as it
    /// is now (`None` if deleted).
    fn notice(&self, seq: u64, change: &Change, object: Option<&Value>) -> Option<Notice> {
        let mut inside = self.inside.lock();
        let was = inside.contains(&change.id);
        let (operation, data) = match (&change.kind, object) {
            (ChangeKind::Created | ChangeKind::Updated, Some(Value::Object(object))) => {
                let now = self.filters.iter().all(|filter| filter.matches(object));
                if now && inside.len() < TRACKED {
                    inside.insert(change.id.clone());
                } else if !now {
                    inside.remove(&change.id);
                }
                if !now && !was {
                    return None;
                }
                let operation = match change.kind {
                    ChangeKind::Created => "create",
                    _ => "update",
                };
                (operation, Value::Object(object.clone()))
            }
            // Deleted (or gone by the time it was read): sent if it was known to match.
            _ => {
                if !(inside.remove(&change.id) || self.filters.is_empty()) {
                    return None;
                }
                ("delete", json!({ "id": change.id }))
            }
        };
        Some(Notice {
            seq,
            operation,
            data,
        })
    }
}

/// A feed's notices, until it is closed; dropping it closes the feed.
pub struct Receiver {
    pub id: String,
    feeds: Arc<Feeds>,
    feed: Weak<Feed>,
    queued: mpsc::Receiver<Notice>,
}

impl Receiver {
    /// The next notice; `None` once the feed is closed.
    pub async fn next(&mut self) -> Option<Notice> {
        match self.missed() {
            Some(missed) => Some(missed),
            None => self.queued.recv().await,
        }
    }

    /// The next notice if one is waiting.
    pub fn try_next(&mut self) -> Option<Notice> {
        self.missed().or_else(|| self.queued.try_recv().ok())
    }

    fn missed(&self) -> Option<Notice> {
        let feed = self.feed.upgrade()?;
        feed.missed
            .swap(false, Ordering::AcqRel)
            .then(Notice::missed)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.feeds.state.lock().by_id.remove(&self.id);
    }
}

/// The changes this instance heard lately, numbered.
#[derive(Default)]
struct Window {
    /// The sequence number of the latest change.
    last: u64,
    changes: VecDeque<(u64, Change)>,
}

/// The open feeds of this instance.
pub struct Feeds {
    store: Store,
    /// The feeds by id, and the window: one lock, so a feed opening to resume sees every
    /// change either replayed or live, never both and never neither.
    state: Mutex<State>,
    /// Whether the task following the store's changes runs.
    following: AtomicBool,
}

#[derive(Default)]
struct State {
    by_id: HashMap<String, Arc<Feed>>,
    window: Window,
}

impl Feeds {
    pub fn new(store: Store) -> Arc<Feeds> {
        Arc::new(Feeds {
            store,
            state: Mutex::default(),
            following: AtomicBool::new(false),
        })
    }

    /// How many feeds `owner` holds.
    pub fn held_by(&self, owner: &str) -> usize {
        let state = self.state.lock();
        state.by_id.values().filter(|f| f.owner == owner).count()
    }

    /// Opens a feed; its receiver. The objects matching now are read first, so the feed knows
    /// which ones a later change moves out.
    pub fn open(self: &Arc<Self>, wanted: Wanted) -> switchyard_store::Result<Receiver> {
        self.follow();
        let store = self.store.in_tenant(&wanted.tenant);
        let query = Query {
            filters: wanted.filters.clone(),
            limit: Some(TRACKED),
            ..Query::default()
        };
        let inside = (store.query(&wanted.entity, &query)?.result.iter())
            .map(|object| switchyard_model::id_of(object).to_owned())
            .collect();
        let id = format!("sub-{}", uuid::Uuid::now_v7().simple());
        let (notices, queued) = mpsc::channel(QUEUE);
        let feed = Arc::new(Feed {
            owner: wanted.owner,
            tenant: wanted.tenant,
            entity: wanted.entity,
            filters: wanted.filters,
            inside: Mutex::new(inside),
            notices,
            missed: AtomicBool::new(false),
        });
        let mut state = self.state.lock();
        if let Some(after) = wanted.after {
            self.replay(&state.window, &feed, after);
        }
        state.by_id.insert(id.clone(), feed.clone());
        Ok(Receiver {
            id,
            feeds: self.clone(),
            feed: Arc::downgrade(&feed),
            queued,
        })
    }

    /// Closes the feed `id` of `owner`; whether it had one.
    pub fn close(&self, owner: &str, id: &str) -> bool {
        let mut state = self.state.lock();
        let theirs = state.by_id.get(id).is_some_and(|f| f.owner == owner);
        if theirs {
            state.by_id.remove(id);
        }
        theirs
    }

    /// Closes every feed of `owner`.
    pub fn close_all(&self, owner: &str) {
        self.state.lock().by_id.retain(|_, f| f.owner != owner);
    }

    /// Sends `feed` what the window holds after `after`, preceded by `missed` if the window no
    /// longer reaches back that far.
    fn replay(&self, window: &Window, feed: &Feed, after: u64) {
        let oldest = window
            .changes
            .front()
            .map_or(window.last + 1, |(seq, _)| *seq);
        if after + 1 < oldest || after > window.last {
            feed.notify(Notice::missed());
        }
        let changes = window.changes.iter().filter(|(seq, _)| *seq > after);
        for (seq, change) in changes {
            if change.tenant == feed.tenant && change.type_name == feed.entity {
                // Whether the object matched back then is not known: an update or delete is
                // sent as if it did, so the reader drops what it holds.
                if change.kind != ChangeKind::Created {
                    feed.inside.lock().insert(change.id.clone());
                }
                match self.current(change) {
                    Ok(object) => {
                        if let Some(notice) = feed.notice(*seq, change, object.as_ref()) {
                            feed.notify(notice);
                        }
                    }
                    Err(()) => feed.notify(Notice::missed()),
                }
            }
        }
    }

    /// Starts following the store's changes, once: from now, not from when the task runs.
    fn follow(self: &Arc<Self>) {
        if !self.following.swap(true, Ordering::AcqRel) {
            tokio::spawn(self.clone().run(self.store.subscribe()));
        }
    }

    async fn run(self: Arc<Self>, mut changes: tokio::sync::broadcast::Receiver<Change>) {
        loop {
            match changes.recv().await {
                Ok(change) if change.kind == ChangeKind::Missed => self.missed_all(),
                Ok(change) => self.changed(change),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!("change feeds fell {missed} changes behind");
                    self.missed_all();
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Tells every feed to read again; the window no longer tells every change either.
    fn missed_all(&self) {
        let mut state = self.state.lock();
        state.window.changes.clear();
        state.window.last += 1;
        for feed in state.by_id.values() {
            feed.notify(Notice::missed());
        }
    }

    /// The object `change` is about, as it is now: `None` if deleted.
    fn current(&self, change: &Change) -> Result<Option<Value>, ()> {
        if change.kind == ChangeKind::Deleted {
            return Ok(None);
        }
        match self.store.in_tenant(&change.tenant).get(&change.id) {
            Ok(object) => Ok(object.map(Value::Object)),
            Err(e) => {
                tracing::error!("a change could not be read for its feeds: {e}");
                Err(())
            }
        }
    }

    /// Numbers `change` and tells the feeds it concerns. The object is read after the lock is
    /// let go (with PostgreSQL that is a round trip): a feed opening meanwhile to resume finds
    /// the change in the window, and one opening without resuming starts after it.
    fn changed(&self, change: Change) {
        let (seq, feeds) = {
            let mut state = self.state.lock();
            let window = &mut state.window;
            window.last += 1;
            let seq = window.last;
            if window.changes.len() == RETAINED {
                window.changes.pop_front();
            }
            window.changes.push_back((seq, change.clone()));
            let feeds: Vec<Arc<Feed>> = (state.by_id.values())
                .filter(|f| f.tenant == change.tenant && f.entity == change.type_name)
                .cloned()
                .collect();
            (seq, feeds)
        };
        if feeds.is_empty() {
            return;
        }
        let object = self.current(&change);
        for feed in feeds {
            match &object {
                Ok(object) => {
                    if let Some(notice) = feed.notice(seq, &change, object.as_ref()) {
                        feed.notify(notice);
                    }
                }
                Err(()) => feed.notify(Notice::missed()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(store: &Store, after: Option<u64>) -> Wanted {
        Wanted {
            tenant: store.tenant().to_owned(),
            entity: "Order".into(),
            filters: Query::from_params([("status", "open")]).unwrap().filters,
            owner: "test".into(),
            after,
        }
    }

    async fn next(receiver: &mut Receiver) -> (u64, &'static str, Value) {
        let notice = tokio::time::timeout(std::time::Duration::from_secs(5), receiver.next())
            .await
            .expect("a notice comes")
            .expect("the feed is open");
        (notice.seq, notice.operation, notice.data["item"].clone())
    }

    #[tokio::test]
    async fn a_feed_tells_matching_changes_a_move_out_once_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Default::default()).unwrap();
        let feeds = Feeds::new(store.clone());
        let mut live = feeds.open(wanted(&store, None)).unwrap();
        let order = |item: &str, status: &str| json!({"item": item, "status": status});
        let kept = store.create("Order", order("kept", "open")).unwrap();
        let (first, operation, item) = next(&mut live).await;
        assert_eq!((operation, item), ("create", json!("kept")));
        store.create("Order", order("shut", "closed")).unwrap();
        store.create("Other", order("other", "open")).unwrap();
        let id = switchyard_model::id_of(&kept);
        store.update(id, json!({"status": "closed"})).unwrap();
        let (_, operation, item) = next(&mut live).await;
        assert_eq!(
            (operation, item),
            ("update", json!("kept")),
            "moved out, told once"
        );
        store.update(id, json!({"qty": 2})).unwrap();
        store.create("Order", order("last", "open")).unwrap();
        let (last, operation, item) = next(&mut live).await;
        assert_eq!(
            (operation, item),
            ("create", json!("last")),
            "nothing in between"
        );

        // Resumed after the first: the rest again, from the window.
        // Whether `kept` matched before each of its updates is not known then: both are told.
        let mut resumed = feeds.open(wanted(&store, Some(first))).unwrap();
        let mut again = Vec::new();
        for _ in 0..3 {
            let (seq, operation, _) = next(&mut resumed).await;
            again.push((seq, operation));
        }
        assert_eq!(
            again,
            [(last - 2, "update"), (last - 1, "update"), (last, "create")]
        );
        assert!(resumed.try_next().is_none());

        // From before the window: read again.
        let mut lost = feeds.open(wanted(&store, Some(last + 10))).unwrap();
        assert_eq!(next(&mut lost).await.1, "missed");

        // A dropped receiver closes its feed; the owner's count says so.
        assert_eq!(feeds.held_by("test"), 3);
        drop(lost);
        assert_eq!(feeds.held_by("test"), 2);
        feeds.close_all("test");
        assert!(live.next().await.is_none(), "closed");
    }
}
