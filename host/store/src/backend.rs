//! The storage seam: what the store needs from the engine underneath it.
//!
//! Everything above this trait (write sets and their version checks, group commit, queries,
//! validation, the change feed, secrets) is the same for every engine; a backend only keeps
//! bytes and answers the few questions that depend on how it keeps them: objects by id, a
//! type's objects (narrowed by its secondary indexes where it has some), atomic batches of write
//! sets, durability, and the small key-value spaces and queues the host keeps beside the
//! objects. Objects belong to tenants: a backend keeps each tenant's objects, indexes and usage
//! apart, so a read in one tenant never meets another's. The embedded engine lives in [`crate::embedded`], the shared one in [`crate::postgres`];
//! the conformance suite in `tests/conformance` runs against each.

use crate::{
    Change, Filter, Instance, Object, Order, Queued, Result, SpaceChange, StorageQuota, Usage,
};
use std::time::Duration;

/// Objects read from a backend, one at a time.
pub(crate) type Objects<'a> = Box<dyn Iterator<Item = Result<Object>> + 'a>;

/// One object's pending state in a write set.
#[derive(Clone)]
pub(crate) struct Write {
    pub id: String,
    pub type_name: String,
    /// Whether the object was committed before the write set touched it; such an object must
    /// still exist at commit, at version `base`.
    pub existed: bool,
    /// For an object that existed: the version the write set read.
    pub base: u64,
    /// The object as JSON (secrets included), or `None` once deleted.
    pub bytes: Option<Vec<u8>>,
    /// Whether the stored object's host-maintained status (a client's `isConnected` and
    /// `lastError`) is kept over what the write set computed from an older read.
    pub keeps_status: bool,
    /// The property of the object whose value no other object of its type may have, in any
    /// tenant (a device's `username`); a write that takes a value another object has fails
    /// alone with [`crate::Error::Taken`].
    pub unique: Option<&'static str>,
}

/// The write sets of one tenant's transaction, with what its tenant may store.
pub(crate) struct WriteSet<'a> {
    pub tenant: &'a str,
    pub writes: &'a [Write],
    /// A set that would take the tenant's usage over this fails alone, with nothing applied.
    pub quota: StorageQuota,
}

/// What a shared engine hears of the other instances' writes.
pub(crate) enum Heard {
    Object(Change),
    Space(SpaceChange),
    /// It could not hear for a while: anything may have changed.
    Missed,
}

/// Where an engine tells what it hears.
pub(crate) type Hear = Box<dyn Fn(Heard) + Send + Sync>;

/// A storage engine under the store. Reads see what is committed; nothing is durable until
/// [`Backend::flush`] returns (an engine whose commits are durable by themselves does nothing
/// there).
pub(crate) trait Backend: Send + Sync + 'static {
    /// The committed object `id` (ids are unique across tenants) with the tenant it belongs
    /// to, secrets included.
    fn load(&self, id: &str) -> Result<Option<(String, Object)>>;

    /// The committed objects of `type_name` in `tenant`: every one in creation order, or,
    /// where an index narrows `filters`, at least those matching them (each is checked against
    /// the whole query above).
    fn scan(&self, tenant: &str, type_name: &str, filters: &[Filter]) -> Result<Objects<'_>>;

    /// Every committed object of `type_name` in `tenant` in the order [`crate::Query`] sorts by
    /// `property`, ties in creation order, if an index of the property gives that order.
    fn sorted(
        &self,
        tenant: &str,
        type_name: &str,
        property: &str,
        order: Order,
    ) -> Result<Option<Objects<'_>>>;

    /// How many objects of `type_name` `tenant` has.
    fn count(&self, tenant: &str, type_name: &str) -> Result<usize>;

    /// The ids of a type's objects in `tenant`, oldest first, each with its stored size.
    fn sizes(&self, tenant: &str, type_name: &str) -> Result<Vec<(String, usize)>>;

    /// The names of the types that have objects in `tenant`, in byte order.
    fn types(&self, tenant: &str) -> Result<Vec<String>>;

    /// How many objects, and bytes of them, `tenant` has.
    fn usage(&self, tenant: &str) -> Result<Usage>;

    /// The tenants that have objects, in byte order.
    fn tenants(&self) -> Result<Vec<String>>;

    /// Applies write sets in one transaction, in order, each seeing the ones before it. A set
    /// whose objects are not at the versions it read (`Conflict`), that would take its tenant
    /// over its quota (`Quota`), or that gives a unique property a value another object has
    /// (`Taken`), fails alone with nothing of it applied; `Err` means the engine failed and
    /// nothing was applied.
    fn commit(&self, sets: &[WriteSet]) -> Result<Vec<Result<()>>>;

    /// The tenant and id of the object of `type_name` whose unique property has `value`.
    fn unique(&self, type_name: &str, value: &str) -> Result<Option<(String, String)>>;

    /// Sets host-maintained properties of `tenant`'s object `id` in place, keeping its
    /// version; its type, or `None` if there is no such object.
    fn set_status(&self, tenant: &str, id: &str, fields: &Object) -> Result<Option<String>>;

    /// Declares an index of `tenant`'s objects and indexes what is stored; how many objects,
    /// or `None` if it existed.
    fn create_index(&self, tenant: &str, type_name: &str, property: &str) -> Result<Option<usize>>;

    /// Removes an index; whether it existed.
    fn drop_index(&self, tenant: &str, type_name: &str, property: &str) -> Result<bool>;

    /// Every declared index of `tenant`, as (type, property).
    fn indexes(&self, tenant: &str) -> Vec<(String, String)>;

    /// Removes every object, index and usage count of `tenant`.
    fn remove_tenant(&self, tenant: &str) -> Result<()>;

    /// Makes everything committed so far durable. Blocks.
    fn flush(&self) -> Result<()>;

    /// A value of a key-value space.
    fn space_get(&self, space: &str, key: &str) -> Result<Option<Vec<u8>>>;

    /// The entries of a space whose keys start with `prefix`, in key order.
    fn space_list(&self, space: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;

    /// Sets (`Some`) and removes (`None`) entries of a space atomically, durably.
    fn space_write(&self, space: &str, entries: &[(&str, Option<&[u8]>)]) -> Result<()>;

    /// Adds a record to a queue, due at `due_ms`; durable with the next flush.
    fn queue_push(&self, queue: &str, due_ms: u64, record: &[u8]) -> Result<()>;

    /// The entry of a queue due first that no other instance holds.
    fn queue_first(&self, queue: &str) -> Result<Option<Queued>>;

    /// Holds an entry of a queue for this instance for `hold_ms`, unless another holds it;
    /// whether this instance holds it now. An engine no other instance shares always says yes.
    fn queue_claim(&self, queue: &str, key: &[u8], hold_ms: u64) -> Result<bool> {
        let _ = (queue, key, hold_ms);
        Ok(true)
    }

    /// Removes an entry of a queue; durable with the next flush.
    fn queue_remove(&self, queue: &str, key: &[u8]) -> Result<()>;

    /// Whether the engine answers; an embedded one always does.
    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Whether other instances may share the engine. Only such an engine is asked about
    /// instances and leases (below).
    fn is_shared(&self) -> bool {
        false
    }

    /// Records that `instance` is alive now.
    fn heartbeat(&self, instance: &Instance) -> Result<()> {
        let _ = instance;
        Ok(())
    }

    /// The instances alive within `live`, with their leases.
    fn instances(&self, live: Duration) -> Result<Vec<Instance>> {
        let _ = live;
        Ok(Vec::new())
    }

    /// The instances whose last heartbeat is older than `live`.
    fn gone(&self, live: Duration) -> Result<Vec<String>> {
        let _ = live;
        Ok(Vec::new())
    }

    /// Gives `holder` the lease `name` for `ttl` unless another holder's has not expired;
    /// whether `holder` holds it now.
    fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let _ = (name, holder, ttl);
        Ok(true)
    }

    /// Ends `holder`'s lease `name`.
    fn release(&self, name: &str, holder: &str) -> Result<()> {
        let _ = (name, holder);
        Ok(())
    }

    /// From now on, tells `hear` what other instances sharing the engine write. An engine
    /// that no other instance shares has nothing to tell.
    fn watch(&self, hear: Hear) -> Result<()> {
        drop(hear);
        Ok(())
    }
}
