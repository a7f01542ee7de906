//! The object store: every client, subscriber and callback-produced object lives here, with
//! everything else the host keeps (plugins, settings, the retry queue).
//!
//! Objects are JSON documents with a generated `id`, a `type`, `createdAt` and `updatedAt`, and
//! free properties at the top level. Built-in types (`MQTTClient`, `MessageSubscriber`, ...) are
//! validated on every write. All writes go through a [`Txn`], a write set that reads its own
//! writes and commits atomically, so a plugin invocation's writes land together or not at all.
//!
//! A commit is durable only once [`Store::sync`] returns: acknowledgements (a broker ack, an
//! HTTP 2xx) wait for it, and concurrent waiters share one flush. Write sets committed at the
//! same time through [`Txn::commit_grouped`] share one transaction (group commit).
//!
//! Everything here is the same whatever engine keeps the bytes: the engine sits behind
//! [`backend::Backend`]. The embedded one ([`embedded`], a redb file under the data
//! directory) is the default; [`postgres`] keeps them in PostgreSQL, shared by several
//! instances. Beside the objects, a store keeps named key-value [`Space`]s
//! (plugin uploads, settings) and durable [`Queue`]s (retries).
//!
//! Objects belong to tenants. A [`Store`] handle acts in one tenant ([`Store::tenant`],
//! [`DEFAULT_TENANT`] unless [`Store::in_tenant`] says otherwise): it sees, counts and indexes
//! only that tenant's objects, and an id of another tenant is not found. A tenant's objects and
//! their bytes are counted as they commit, and a write set that would take them over the
//! tenant's [`StorageQuota`] fails with [`Error::Quota`].

mod backend;
mod cache;
mod checks;
mod durable;
mod embedded;
mod error;
mod group;
mod instances;
mod postgres;
mod props;
mod query;
mod queue;
mod record;
mod retries;
mod sorted;
mod space;
mod txn;
mod types;

pub use error::{Error, Result};
pub use instances::{Instance, LIVE_FOR};
pub use query::{Filter, Op, Order, Page, Query};
pub use queue::{Queue, Queued};
pub use record::now;
pub use retries::Retries;
pub use space::Space;
pub use txn::Txn;
pub use types::validate_type_name;

use backend::{Backend, Heard};
use instances::Me;

pub use switchyard_model::{DEFAULT_TENANT, Kinds, Object};

use parking_lot::RwLock;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;
use types::Schema;

/// What happened to an object; sent to [`Store::subscribe`]rs after each commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The tenant the object belongs to.
    pub tenant: String,
    pub kind: ChangeKind,
    pub type_name: String,
    pub id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
    /// Other instances sharing the store may have changed anything while this one could not
    /// hear them (its connection to the database dropped): re-read whatever you keep. The
    /// change's tenant, type and id are empty.
    Missed,
}

/// A change to a key-value [`Space`] made by another instance sharing the store; see
/// [`Store::space_changes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpaceChange {
    /// The entry `key` of `space` was set or removed.
    Entry { space: String, key: String },
    /// Entries may have changed while this instance could not hear: re-read what you keep.
    Missed,
}

/// How much a tenant stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Usage {
    pub objects: u64,
    /// Bytes of the objects as stored (JSON).
    pub bytes: u64,
}

/// How much a tenant may store; `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageQuota {
    pub objects: Option<u64>,
    pub bytes: Option<u64>,
}

/// The embedded engine's page cache, unless configured: what the store keeps in memory,
/// whatever the number of objects. Reads of other pages hit the OS page cache.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// How many change events a slow subscriber may fall behind before it sees `Lagged`.
const CHANGE_CAPACITY: usize = 1024;

/// A handle to the database, acting in one tenant. Cheap to clone; all clones share one
/// database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    tenant: Arc<str>,
    /// Writes through this handle pass the tenant's storage quota (see [`Store::unquoted`]).
    unquoted: bool,
}

struct Inner {
    dir: std::path::PathBuf,
    backend: Arc<dyn Backend>,
    schema: Schema,
    changes: broadcast::Sender<Change>,
    /// Other instances' changes to spaces.
    spaces: broadcast::Sender<SpaceChange>,
    /// Committed changes per built-in type, counted as they commit: lets the host keep what
    /// it derives from those objects (routing) and check it is current with one load.
    generations: HashMap<&'static str, AtomicU64>,
    /// Every committed change to any object, counted as it commits: a query's result is
    /// current while this number stays the same.
    changed: AtomicU64,
    flusher: durable::Flusher,
    committer: group::Committer,
    cache: cache::Cache,
    /// What each tenant may store, as the host configured it; absent is no limit.
    quotas: RwLock<HashMap<String, StorageQuota>>,
    /// This instance, among those sharing the store.
    me: Me,
}

/// How often a single write is tried again when it loses a race with another writer. Each try
/// re-reads the object, so a merge applies to the latest version.
const WRITE_TRIES: usize = 16;

impl Store {
    /// Opens (or creates) the embedded database in `dir`, with the default page cache, for
    /// the client kinds in `kinds`.
    pub fn open(dir: &std::path::Path, kinds: Kinds) -> Result<Store> {
        Store::open_with_cache(dir, kinds, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the embedded database in `dir`, keeping at most `cache_bytes` of it
    /// in memory. A data directory of an earlier, sled-based version is imported first.
    pub fn open_with_cache(
        dir: &std::path::Path,
        kinds: Kinds,
        cache_bytes: usize,
    ) -> Result<Store> {
        let backend = Arc::new(embedded::Embedded::open(dir, cache_bytes)?);
        Store::with_backend(dir, kinds, backend, Me::new())
    }

    /// Opens the PostgreSQL database at `url` (`postgres://user:password@host:port/db`, or
    /// libpq's `key=value` form), creating or migrating its schema, for the client kinds in
    /// `kinds`. `dir` stays this instance's own, for files kept beside the store.
    pub fn open_postgres(url: &str, dir: &std::path::Path, kinds: Kinds) -> Result<Store> {
        let me = Me::new();
        let backend = Arc::new(postgres::Postgres::connect(url, &me.id)?);
        Store::with_backend(dir, kinds, backend, me)
    }

    /// Where the PostgreSQL URL `url` points, without its password: what logs and banners
    /// may show.
    pub fn postgres_location(url: &str) -> String {
        postgres::location(url)
    }

    fn with_backend(
        dir: &std::path::Path,
        kinds: Kinds,
        backend: Arc<dyn Backend>,
        me: Me,
    ) -> Result<Store> {
        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        let (spaces, _) = broadcast::channel(CHANGE_CAPACITY);
        let flusher = durable::Flusher::start(backend.clone())?;
        let schema = Schema { kinds };
        let generations = (schema.builtin_names().into_iter())
            .map(|name| (name, AtomicU64::new(0)))
            .collect();
        let inner = Arc::new(Inner {
            dir: dir.to_owned(),
            backend,
            schema,
            changes,
            spaces,
            generations,
            changed: AtomicU64::new(0),
            flusher,
            committer: Default::default(),
            cache: Default::default(),
            quotas: RwLock::default(),
            me,
        });
        let heard = Arc::downgrade(&inner);
        inner.backend.watch(Box::new(move |change| {
            if let Some(inner) = heard.upgrade() {
                inner.heard(change);
            }
        }))?;
        Ok(Store {
            inner,
            tenant: Arc::from(DEFAULT_TENANT),
            unquoted: false,
        })
    }

    /// The tenant this handle acts in.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// A handle to the same database acting in `tenant`.
    pub fn in_tenant(&self, tenant: &str) -> Store {
        Store {
            inner: self.inner.clone(),
            tenant: Arc::from(tenant),
            unquoted: false,
        }
    }

    /// This handle, with writes that pass the tenant's storage quota: for the host's records
    /// of what it received (failed messages), which must be kept whatever the tenant stored,
    /// or the message they hold would be lost. They are bounded by their own retention.
    pub fn unquoted(&self) -> Store {
        Store {
            unquoted: true,
            ..self.clone()
        }
    }

    /// What this handle's writes may store.
    pub(crate) fn write_quota(&self) -> StorageQuota {
        match self.unquoted {
            true => StorageQuota::default(),
            false => self.quota(&self.tenant),
        }
    }

    /// How much this handle's tenant stores.
    pub fn usage(&self) -> Result<Usage> {
        self.inner.backend.usage(&self.tenant)
    }

    /// The tenants that have objects.
    pub fn tenants(&self) -> Result<Vec<String>> {
        self.inner.backend.tenants()
    }

    /// Sets what `tenant` may store from now on (checked as each write set commits).
    pub fn set_quota(&self, tenant: &str, quota: StorageQuota) {
        self.inner.quotas.write().insert(tenant.to_owned(), quota);
    }

    /// What `tenant` may store.
    pub(crate) fn quota(&self, tenant: &str) -> StorageQuota {
        self.inner
            .quotas
            .read()
            .get(tenant)
            .copied()
            .unwrap_or_default()
    }

    /// Removes every object and index of this handle's tenant.
    pub fn remove_tenant(&self) -> Result<()> {
        self.inner.backend.remove_tenant(&self.tenant)?;
        self.inner.changed.fetch_add(1, Ordering::AcqRel);
        self.inner.cache.forget_tenant(&self.tenant);
        for generation in self.inner.generations.values() {
            generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    /// This instance's id among those sharing the store.
    pub fn instance_id(&self) -> &str {
        &self.inner.me.id
    }

    /// Tells the other instances sharing the store that this one is alive, its API at
    /// `address`. Call it well within [`LIVE_FOR`].
    pub fn heartbeat(&self, address: &str) -> Result<()> {
        let me = &self.inner.me;
        *me.address.lock() = address.to_owned();
        *me.heartbeat_at.lock() = now();
        match self.is_shared() {
            true => self.inner.backend.heartbeat(&me.instance()),
            false => Ok(()),
        }
    }

    /// The live instances sharing the store, with the leases each holds.
    pub fn instances(&self) -> Result<Vec<Instance>> {
        match self.is_shared() {
            true => self.inner.backend.instances(LIVE_FOR),
            false => Ok(vec![self.inner.me.instance()]),
        }
    }

    /// The instances that shared the store and stopped saying they are alive (within the
    /// last day): what they left behind may need taking over.
    pub fn gone_instances(&self) -> Result<Vec<String>> {
        match self.is_shared() {
            true => self.inner.backend.gone(LIVE_FOR),
            false => Ok(Vec::new()),
        }
    }

    /// Takes or renews the lease `name` for `ttl`, unless another live instance holds it;
    /// whether this instance holds it now.
    pub fn lease(&self, name: &str, ttl: std::time::Duration) -> Result<bool> {
        let held = match self.is_shared() {
            true => self.inner.backend.lease(name, &self.inner.me.id, ttl)?,
            false => true,
        };
        let mut leases = self.inner.me.leases.lock();
        match held {
            true => leases.insert(name.to_owned()),
            false => leases.remove(name),
        };
        Ok(held)
    }

    /// Gives up the lease `name`, if this instance holds it, so another instance may take it
    /// at once.
    pub fn release(&self, name: &str) -> Result<()> {
        let held = self.inner.me.leases.lock().remove(name);
        match held && self.is_shared() {
            true => self.inner.backend.release(name, &self.inner.me.id),
            false => Ok(()),
        }
    }

    /// Whether the engine answers: a shared engine's server may be out of reach. Blocks.
    pub fn check(&self) -> Result<()> {
        self.inner.backend.check()
    }

    /// Whether other instances may share this store (it is in PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.inner.backend.is_shared()
    }

    /// This instance's data directory (the embedded database's): other parts of the host keep
    /// their own files there.
    pub fn dir(&self) -> &std::path::Path {
        &self.inner.dir
    }

    /// The client kinds this store knows.
    pub fn kinds(&self) -> &Kinds {
        &self.inner.schema.kinds
    }

    /// Whether `type_name` is one of the types the host itself reads (clients, subscribers,
    /// failed messages), which plugins must not write.
    pub fn is_builtin(&self, type_name: &str) -> bool {
        self.inner.schema.builtin(type_name).is_some()
    }

    pub(crate) fn schema(&self) -> &Schema {
        &self.inner.schema
    }

    /// A named key-value space beside the objects, for other parts of the host (plugin
    /// uploads, settings).
    pub fn space(&self, name: &'static str) -> Space {
        Space::new(self.inner.backend.clone(), name)
    }

    /// A named durable queue beside the objects (the retry queue).
    pub fn queue(&self, name: &'static str) -> Queue {
        Queue::new(self.inner.backend.clone(), name)
    }

    /// Writes everything committed so far to disk; call this before the process exits.
    pub fn flush(&self) -> Result<()> {
        self.inner.backend.flush()
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

    /// Notifications of committed changes, this instance's and (on a shared engine) other
    /// instances'. A lagging receiver gets `RecvError::Lagged`, and a receiver that gets a
    /// [`ChangeKind::Missed`] change should re-read what it cares about.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.inner.changes.subscribe()
    }

    /// Notifications of what other instances sharing the store change in its key-value
    /// spaces (this instance's own writes are not announced: the writer knows). Nothing comes
    /// on the embedded engine, which no other instance shares.
    pub fn space_changes(&self) -> broadcast::Receiver<SpaceChange> {
        self.inner.spaces.subscribe()
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
            props::strip_secrets(self.schema(), object);
        }
        Ok(object)
    }

    /// Reads an object including write-only properties. For the host's own use (connecting a
    /// client); never hand the result to the API or a plugin.
    pub fn get_with_secrets(&self, id: &str) -> Result<Option<Object>> {
        self.load(id)
    }

    /// The object of `type_name` whose server-wide unique property (a device's `username`) is
    /// `value`, in whichever tenant has it: that tenant and the object, write-only properties
    /// included. For the host's own use (authenticating a device).
    pub fn find_unique(&self, type_name: &str, value: &str) -> Result<Option<(String, Object)>> {
        let Some((tenant, id)) = self.backend().unique(type_name, value)? else {
            return Ok(None);
        };
        Ok((self.backend().load(&id)?).filter(|(owner, _)| *owner == tenant))
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
        self.inner.backend.sizes(&self.tenant, type_name)
    }

    /// How many objects of `type_name` there are.
    pub fn count(&self, type_name: &str) -> Result<usize> {
        self.inner.backend.count(&self.tenant, type_name)
    }

    /// The names of the types that have objects, in byte order. Reads one key per type.
    pub fn types(&self) -> Result<Vec<String>> {
        self.inner.backend.types(&self.tenant)
    }

    /// Sets host-maintained read-only properties (`isConnected`, `lastError`) without the
    /// checks that keep users from writing them. Does nothing if the object is gone.
    pub fn set_status(&self, id: &str, fields: Object) -> Result<()> {
        let type_name = self.inner.backend.set_status(&self.tenant, id, &fields)?;
        if let Some(type_name) = type_name {
            self.notify(Change {
                tenant: self.tenant.to_string(),
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
    ///
    /// It retries at once: for writes that seldom race (an operator's, the host's own). Writes
    /// that API and MQTT clients race on go through [`Store::write_object`], which pauses.
    pub fn write<T>(&self, mut op: impl FnMut(&mut Txn) -> Result<T>) -> Result<T> {
        let mut tries = 1;
        loop {
            match self.try_write(&mut op)? {
                Ok(out) => return Ok(out),
                Err(lost) if tries == WRITE_TRIES => return Err(lost),
                Err(_) => tries += 1,
            }
        }
    }

    /// One try of `op` in a transaction of its own: what it returned once committed, or the
    /// conflict its commit lost (`Ok(Err(_))`); `op`'s own errors end it as they are.
    fn try_write<T>(
        &self,
        op: &mut impl FnMut(&mut Txn) -> Result<T>,
    ) -> Result<std::result::Result<T, Error>> {
        let mut txn = self.begin();
        let out = op(&mut txn)?;
        match txn.commit() {
            Err(lost @ Error::Conflict(_)) => Ok(Err(lost)),
            Err(e) => Err(e),
            Ok(_) => Ok(Ok(out)),
        }
    }

    /// [`Store::write`] on the object `id` of type `type_name` (not found if it is another
    /// type's: the type never changes after creation, so a write through `/Order/{id}` never
    /// touches a client), at `version` if one is given (a conflict otherwise). An object that
    /// does not pass `within`'s filters is not found either: what a lifecycle hook lets the
    /// caller see.
    ///
    /// A try that lost a race pauses before the next, and tries go on for up to 10 s
    /// ([`Retries`]): many writers of one object, on one instance or several, each land
    /// instead of one of them losing every race.
    pub async fn write_object<T>(
        &self,
        type_name: &str,
        id: &str,
        version: Option<u64>,
        within: &Query,
        mut op: impl FnMut(&mut Txn) -> Result<T>,
    ) -> Result<T> {
        let mut checked = |txn: &mut Txn| {
            let found = txn.get(id)?;
            if found.is_none_or(|o| record::type_of(&o) != type_name || !within.matches(&o)) {
                return Err(Error::NotFound(format!("no {type_name} with id `{id}`")));
            }
            if let Some(version) = version {
                txn.expect_version(id, version)?;
            }
            op(txn)
        };
        let mut retries = Retries::default();
        loop {
            let lost = match self.try_write(&mut checked)? {
                Ok(out) => return Ok(out),
                Err(lost) => lost,
            };
            let Some(pause) = retries.lost() else {
                return Err(lost);
            };
            tokio::time::sleep(pause).await;
        }
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.inner.backend
    }

    /// The committed object with secrets, if it is this tenant's.
    fn load(&self, id: &str) -> Result<Option<Object>> {
        self.read(id, |object| object.into_owned())
    }

    /// What `f` makes of the committed object with secrets, if it is this tenant's: a cached
    /// one lent, not copied.
    fn read<T>(&self, id: &str, f: impl FnOnce(Cow<'_, Object>) -> T) -> Result<Option<T>> {
        let changes = match self.inner.cache.lookup(id) {
            cache::Lookup::Hit(tenant, object) => {
                return Ok((*tenant == *self.tenant).then(|| f(Cow::Borrowed(&*object))));
            }
            cache::Lookup::Miss { changes } => changes,
        };
        let Some((tenant, object)) = self.inner.backend.load(id)? else {
            return Ok(None);
        };
        if self.is_builtin(record::type_of(&object)) {
            self.inner.cache.insert(&tenant, id, &object, changes);
        }
        Ok((tenant == *self.tenant).then(|| f(Cow::Owned(object))))
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
        if self.schema().is_secret(type_name, property) {
            return Err(Error::Invalid(format!(
                "{type_name}.{property} is a secret: it cannot be indexed"
            )));
        }
        (self.inner.backend).create_index(&self.tenant, type_name, property)
    }

    /// Removes an index and its entries; returns whether it existed.
    pub fn drop_index(&self, type_name: &str, property: &str) -> Result<bool> {
        (self.inner.backend).drop_index(&self.tenant, type_name, property)
    }

    /// Every declared index, as (type, property).
    pub fn indexes(&self) -> Vec<(String, String)> {
        self.inner.backend.indexes(&self.tenant)
    }

    /// How many changes to objects of built-in type `type_name` have committed in this
    /// process (0 for user types): a value derived from those objects is current while this
    /// number stays the same. Counted when a commit returns, before its change events go out.
    pub fn generation(&self, type_name: &str) -> u64 {
        (self.inner.generations.get(type_name))
            .map_or(0, |generation| generation.load(Ordering::Acquire))
    }

    /// How many changes to objects of any type have committed in this process.
    pub(crate) fn changed(&self) -> u64 {
        self.inner.changed.load(Ordering::Acquire)
    }

    /// The version of the committed object `id`, `None` if there is none; cheap for the
    /// objects kept decoded in memory.
    pub(crate) fn version(&self, id: &str) -> Result<Option<u64>> {
        if let cache::Lookup::Hit(tenant, object) = self.inner.cache.lookup(id)
            && *tenant == *self.tenant
        {
            return Ok(Some(props::version_of(&object)));
        }
        Ok(self.load(id)?.map(|object| props::version_of(&object)))
    }

    fn notify(&self, change: Change) {
        self.inner.notify(change);
    }
}

impl Inner {
    fn notify(&self, change: Change) {
        self.changed.fetch_add(1, Ordering::AcqRel);
        if let Some(generation) = self.generations.get(change.type_name.as_str()) {
            self.cache.changed(&change.id);
            generation.fetch_add(1, Ordering::AcqRel);
        }
        // No receivers is normal (nothing watching yet), not an error.
        let _ = self.changes.send(change);
    }

    /// Takes in what another instance sharing the engine did.
    fn heard(&self, heard: Heard) {
        match heard {
            Heard::Object(change) => self.notify(change),
            Heard::Space(change) => drop(self.spaces.send(change)),
            Heard::Missed => {
                self.cache.forget_all();
                self.changed.fetch_add(1, Ordering::AcqRel);
                for generation in self.generations.values() {
                    generation.fetch_add(1, Ordering::AcqRel);
                }
                let _ = self.changes.send(Change {
                    tenant: String::new(),
                    kind: ChangeKind::Missed,
                    type_name: String::new(),
                    id: String::new(),
                });
                let _ = self.spaces.send(SpaceChange::Missed);
            }
        }
    }
}
