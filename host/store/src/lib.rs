//! The object store: every client, subscriber and callback-produced object lives here, in sled.
//!
//! Objects are JSON documents with a generated `id`, a `type`, `createdAt` and `updatedAt`, and
//! free properties at the top level. Built-in types (`MQTTClient`, `MessageSubscriber`, ...) are
//! validated on every write. All writes go through a [`Txn`], a write set that reads its own
//! writes and commits atomically, so a plugin invocation's writes land together or not at all.
//!
//! A commit is durable only once [`Store::sync`] returns: acknowledgements (a broker ack, an
//! HTTP 2xx) wait for it, and concurrent waiters share one flush. Write sets committed at the
//! same time through [`Txn::commit_grouped`] share one sled transaction (group commit).

mod cache;
mod durable;
mod error;
mod group;
mod index;
mod props;
mod query;
mod record;
mod sorted;
mod txn;
mod types;

pub use error::{Error, Result};
pub use query::{Filter, Op, Order, Page, Query};
pub use txn::Txn;
pub use types::validate_type_name;

/// Whether `type_name` is one of the types the host itself reads (clients, subscribers,
/// failed messages), which plugins must not write.
pub fn is_builtin(type_name: &str) -> bool {
    types::Builtin::of(type_name).is_some()
}

use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;

/// A stored object: its properties, including the reserved `id`, `type`, `createdAt`, `updatedAt`.
pub type Object = serde_json::Map<String, Value>;

/// What happened to an object; sent to [`Store::subscribe`]rs after each commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub type_name: String,
    pub id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

/// sled's page cache. Its default (1 GiB) lets a busy store grow the process by hundreds of
/// MiB; reads of recent objects hit the OS page cache anyway.
const CACHE_BYTES: u64 = 64 << 20;

/// How many change events a slow subscriber may fall behind before it sees `Lagged`.
const CHANGE_CAPACITY: usize = 1024;

/// A handle to the database. Cheap to clone; all clones share one sled database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    dir: std::path::PathBuf,
    db: sled::Db,
    objects: sled::Tree,
    indexes: index::Indexes,
    changes: broadcast::Sender<Change>,
    /// Committed changes per built-in type, counted as they commit: lets the host keep what
    /// it derives from those objects (routing) and check it is current with one load.
    generations: [AtomicU64; types::Builtin::COUNT],
    /// Every committed change to any object, counted as it commits: a query's result is
    /// current while this number stays the same.
    changed: AtomicU64,
    flusher: durable::Flusher,
    committer: group::Committer,
    cache: cache::Cache,
}

/// How often a single write is tried again when it loses a race with another writer. Each try
/// re-reads the object, so a merge applies to the latest version.
const WRITE_TRIES: usize = 16;

impl Store {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &std::path::Path) -> Result<Store> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()?;
        let objects = db.open_tree(record::OBJECTS_TREE)?;
        let indexes = index::Indexes::open(db.open_tree(record::INDEXES_TREE)?)?;
        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        let flusher = durable::Flusher::start(db.clone())?;
        Ok(Store {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                db,
                objects,
                indexes,
                changes,
                generations: Default::default(),
                changed: AtomicU64::new(0),
                flusher,
                committer: Default::default(),
                cache: Default::default(),
            }),
        })
    }

    /// The directory the database lives in; other parts of the host may keep files beside it.
    pub fn dir(&self) -> &std::path::Path {
        &self.inner.dir
    }

    /// A named sled tree beside the objects, for other parts of the host (plugins, settings).
    pub fn tree(&self, name: &str) -> Result<sled::Tree> {
        if name == record::OBJECTS_TREE || name == record::INDEXES_TREE {
            return Err(Error::Invalid(format!(
                "tree name `{name}` is reserved for the object store"
            )));
        }
        Ok(self.inner.db.open_tree(name)?)
    }

    /// Writes everything committed so far to disk. sled also flushes on its own every half
    /// second and when the last handle is dropped; call this before the process exits.
    pub fn flush(&self) -> Result<()> {
        self.inner.db.flush()?;
        Ok(())
    }

    /// Resolves once everything committed before the call is on disk. Callers that arrive
    /// while a flush runs share the next one, so many acknowledgements cost one `fsync`.
    pub async fn sync(&self) -> Result<()> {
        self.inner.flusher.sync().await
    }

    /// Starts a write set.
    pub fn begin(&self) -> Txn {
        Txn::new(self.clone())
    }

    /// Notifications of committed changes. A lagging receiver gets `RecvError::Lagged` and
    /// should re-read what it cares about.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    /// Creates an object (one-write transaction). Returns it as a reader sees it.
    pub fn create(&self, type_name: &str, properties: Value) -> Result<Object> {
        let mut txn = self.begin();
        let object = txn.create(type_name, properties)?;
        txn.commit()?;
        Ok(object)
    }

    /// Reads an object, with write-only properties (passwords) removed.
    pub fn get(&self, id: &str) -> Result<Option<Object>> {
        let mut object = self.load(id)?;
        if let Some(object) = &mut object {
            props::strip_secrets(object);
        }
        Ok(object)
    }

    /// Reads an object including write-only properties. For the host's own use (connecting a
    /// client); never hand the result to the API or a plugin.
    pub fn get_with_secrets(&self, id: &str) -> Result<Option<Object>> {
        self.load(id)
    }

    /// Merges `patch` into the object (`null` removes a property).
    pub fn update(&self, id: &str, patch: Value) -> Result<Object> {
        self.write(|txn| txn.update(id, patch.clone()))
    }

    /// Replaces all user properties of the object.
    pub fn replace(&self, id: &str, properties: Value) -> Result<Object> {
        self.write(|txn| txn.replace(id, properties.clone()))
    }

    /// Deletes the object; returns whether it existed.
    pub fn delete(&self, id: &str) -> Result<bool> {
        self.write(|txn| txn.delete(id))
    }

    /// Finds objects of a type.
    pub fn query(&self, type_name: &str, query: &Query) -> Result<Page> {
        self.begin().query(type_name, query)
    }

    /// The ids of a type's objects, oldest first, each with its stored size in bytes. Reads
    /// no object's contents, for bookkeeping such as retention limits.
    pub fn sizes(&self, type_name: &str) -> Result<Vec<(String, usize)>> {
        let prefix = record::index_prefix(type_name);
        let mut sizes = Vec::new();
        for key in self.inner.objects.scan_prefix(&prefix).keys() {
            let key = key?;
            let id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            if let Some(bytes) = self.inner.objects.get(record::object_key(&id))? {
                sizes.push((id, bytes.len()));
            }
        }
        Ok(sizes)
    }

    /// The names of the types that have objects, in byte order. Reads one key per type.
    pub fn types(&self) -> Result<Vec<String>> {
        let mut types = Vec::new();
        let mut from = b"t/".to_vec();
        while let Some((key, _)) = self
            .inner
            .objects
            .range(from.clone()..)
            .next()
            .transpose()?
        {
            let Some(rest) = key.strip_prefix(b"t/") else {
                break;
            };
            let Some(end) = rest.iter().position(|&b| b == b'/') else {
                break;
            };
            types.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            // `0` follows `/`: the first key past every key of this type.
            from = [&key[..2 + end], b"0"].concat();
        }
        Ok(types)
    }

    /// Sets host-maintained read-only properties (`isConnected`, `lastError`) without the
    /// checks that keep users from writing them. Does nothing if the object is gone.
    pub fn set_status(&self, id: &str, fields: Object) -> Result<()> {
        let key = record::object_key(id);
        let type_name = self
            .inner
            .objects
            .transaction(|tx| {
                let Some(stored) = tx.get(&key)? else {
                    return Ok(None);
                };
                let mut object = txn::aborting(record::decode(&stored))?;
                props::set_status(&mut object, &fields);
                tx.insert(key.as_slice(), txn::aborting(record::encode(&object))?)?;
                Ok(Some(record::type_of(&object).to_owned()))
            })
            .map_err(txn::transaction_error)?;
        if let Some(type_name) = type_name {
            self.notify(Change {
                kind: ChangeKind::Updated,
                type_name,
                id: id.to_owned(),
            });
        }
        Ok(())
    }

    /// Runs `op` in a transaction and commits it, starting over (up to a bound) when another
    /// writer got there first. `op` re-reads what it changes, so a retried merge applies to
    /// the latest version; a version check inside `op` ([`Txn::expect_version`]) fails again
    /// and ends the retries with the conflict.
    pub fn write<T>(&self, mut op: impl FnMut(&mut Txn) -> Result<T>) -> Result<T> {
        let mut tries = 0;
        loop {
            let mut txn = self.begin();
            let out = op(&mut txn)?;
            match txn.commit() {
                Err(Error::Conflict(_)) if tries + 1 < WRITE_TRIES => tries += 1,
                Err(e) => return Err(e),
                Ok(_) => return Ok(out),
            }
        }
    }

    /// The committed object with secrets.
    fn load(&self, id: &str) -> Result<Option<Object>> {
        let changes = match self.inner.cache.lookup(id) {
            cache::Lookup::Hit(object) => return Ok(Some((*object).clone())),
            cache::Lookup::Miss { changes } => changes,
        };
        let object = (self.inner.objects.get(record::object_key(id))?)
            .map(|bytes| record::decode(&bytes))
            .transpose()?;
        if let Some(object) = &object {
            self.inner.cache.insert(id, object, changes);
        }
        Ok(object)
    }

    /// Declares a secondary index on `property` of `type_name` and indexes the objects already
    /// stored (a scan of the type); queries filtering on the property use it from then on.
    /// Returns how many objects were indexed, or `None` if the index existed.
    pub fn create_index(&self, type_name: &str, property: &str) -> Result<Option<usize>> {
        types::validate_type_name(type_name)?;
        if property.is_empty() {
            return Err(Error::Invalid("an index needs a property name".into()));
        }
        // Reads never see a secret, so queries match them as missing; an index keyed by the
        // stored value would answer differently, and tell which objects have one.
        if types::Builtin::of(type_name).is_some_and(|b| b.is_write_only(property)) {
            return Err(Error::Invalid(format!(
                "{type_name}.{property} is a secret: it cannot be indexed"
            )));
        }
        if !self.inner.indexes.declare(type_name, property)? {
            return Ok(None);
        }
        // Declared first: writes that commit from now on keep their entries themselves.
        let objects = &self.inner.objects;
        let prefix = record::index_prefix(type_name);
        let (mut batch, mut indexed) = (sled::Batch::default(), 0);
        for key in objects.scan_prefix(&prefix).keys() {
            let key = key?;
            let id = std::str::from_utf8(&key[prefix.len()..]).unwrap_or_default();
            let Some(object) = self.load(id)? else {
                continue;
            };
            batch.insert(index::entry(type_name, property, &object, id), &[]);
            indexed += 1;
            if indexed % 10_000 == 0 {
                objects.apply_batch(std::mem::take(&mut batch))?;
            }
        }
        objects.apply_batch(batch)?;
        Ok(Some(indexed))
    }

    /// Removes an index and its entries; returns whether it existed.
    pub fn drop_index(&self, type_name: &str, property: &str) -> Result<bool> {
        if !self.inner.indexes.forget(type_name, property)? {
            return Ok(false);
        }
        let objects = &self.inner.objects;
        let mut batch = sled::Batch::default();
        for key in objects.scan_prefix(index::head(type_name, property)).keys() {
            batch.remove(key?);
        }
        objects.apply_batch(batch)?;
        Ok(true)
    }

    /// Every declared index, as (type, property).
    pub fn indexes(&self) -> Vec<(String, String)> {
        self.inner.indexes.all()
    }

    /// How many changes to objects of built-in type `type_name` have committed in this
    /// process (0 for user types): a value derived from those objects is current while this
    /// number stays the same. Counted when a commit returns, before its change events go out.
    pub fn generation(&self, type_name: &str) -> u64 {
        types::Builtin::of(type_name).map_or(0, |builtin| {
            self.inner.generations[builtin as usize].load(Ordering::Acquire)
        })
    }

    /// How many changes to objects of any type have committed in this process.
    pub(crate) fn changed(&self) -> u64 {
        self.inner.changed.load(Ordering::Acquire)
    }

    /// The version of the committed object `id`, `None` if there is none; cheap for the
    /// objects kept decoded in memory.
    pub(crate) fn version(&self, id: &str) -> Result<Option<u64>> {
        if let cache::Lookup::Hit(object) = self.inner.cache.lookup(id) {
            return Ok(Some(props::version_of(&object)));
        }
        Ok(self.load(id)?.map(|object| props::version_of(&object)))
    }

    fn notify(&self, change: Change) {
        self.inner.changed.fetch_add(1, Ordering::AcqRel);
        if let Some(builtin) = types::Builtin::of(&change.type_name) {
            self.inner.cache.changed(&change.id);
            self.inner.generations[builtin as usize].fetch_add(1, Ordering::AcqRel);
        }
        // No receivers is normal (nothing watching yet), not an error.
        let _ = self.inner.changes.send(change);
    }
}
