//! Write sets: buffered creates, updates and deletes that read their own writes and commit
//! atomically.
//!
//! A transaction keeps an overlay of encoded objects (or deletions) over the database; reads
//! consult the overlay first. Commit applies the overlay in one engine transaction, so a plugin
//! invocation's writes land together or not at all, and then announces the changes.
//!
//! Writes are checked optimistically: the transaction remembers the version of every committed
//! object it read, and a write to an object commits only if the object still has that version.
//! A writer that computed its change from a stale read gets [`Error::Conflict`] and nothing is
//! applied, so concurrent writers never silently undo each other's updates.

use crate::backend::{Write, WriteSet};
use crate::record::{self, decode, encode, type_of};
use crate::{Change, ChangeKind, Error, Object, Page, Query, Result, Store, props, sorted, types};
use serde_json::Value;
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// A write set over the store. Nothing is visible to others until [`Txn::commit`]; dropping it
/// discards everything.
pub struct Txn {
    store: Store,
    writes: Vec<Write>,
    /// Position of each id's entry in `writes`; `writes` keeps the order for change events.
    by_id: HashMap<String, usize>,
    /// The version of each committed object as this transaction first read it (0: it read
    /// that there was none). Filled by reads, which take `&self`; a transaction is used by one
    /// task at a time.
    seen: RefCell<HashMap<String, u64>>,
    /// The store's change count before this transaction's first query, if it ran one.
    queried_at: Cell<Option<u64>>,
    /// The largest encoded object this transaction may write, if it is capped.
    max_object_bytes: Option<usize>,
}

/// What a committed write of `tenant` did, for the change feed.
fn change(tenant: &str, write: Write) -> Option<Change> {
    let kind = match (write.existed, write.bytes.is_some()) {
        (false, true) => ChangeKind::Created,
        (true, true) => ChangeKind::Updated,
        (true, false) => ChangeKind::Deleted,
        (false, false) => return None,
    };
    Some(Change {
        tenant: tenant.to_owned(),
        kind,
        type_name: write.type_name,
        id: write.id,
    })
}

/// Commits write sets in one engine transaction, in order, each seeing the ones before it:
/// what became of each, or the storage error that stopped them all. Announces the changes of
/// those that committed.
pub(crate) fn commit_together(store: &Store, txns: Vec<Txn>) -> Result<Vec<Result<Vec<Change>>>> {
    let started = std::time::Instant::now();
    let sets: Vec<WriteSet> = (txns.iter())
        .map(|txn| WriteSet {
            tenant: txn.store.tenant(),
            writes: &txn.writes,
            quota: txn.store.write_quota(),
        })
        .collect();
    let applied = store.backend().commit(&sets)?;
    metrics::histogram!("switchyard_store_commit_seconds").record(started.elapsed());
    Ok((txns.into_iter().zip(applied))
        .map(|(txn, applied)| {
            applied?;
            let changes = txn.into_changes();
            for change in &changes {
                store.notify(change.clone());
            }
            Ok(changes)
        })
        .collect())
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("no object with id `{id}`"))
}

pub(crate) fn stale(type_name: &str, id: &str, read: u64, current: u64) -> Error {
    Error::Conflict(format!(
        "{type_name} {id} is at version {current}, but this write was based on version {read}; \
         read it again and retry"
    ))
}

impl Txn {
    pub(crate) fn new(store: Store) -> Txn {
        Txn {
            store,
            writes: Vec::new(),
            by_id: HashMap::new(),
            seen: RefCell::default(),
            queried_at: Cell::default(),
            max_object_bytes: None,
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// An empty write set over the same store, in the same tenant.
    pub fn another(&self) -> Txn {
        Txn::new(self.store.clone())
    }

    /// The client kinds of the store this write set is over.
    pub fn kinds(&self) -> &switchyard_model::Kinds {
        self.store.kinds()
    }

    /// Caps the size of every object this transaction writes: a larger one is refused with
    /// [`Error::TooLarge`] and not written.
    pub fn limit_object_size(&mut self, max_bytes: usize) {
        self.max_object_bytes = Some(max_bytes);
    }

    /// Encodes an object to store, refusing it if it is over this transaction's cap.
    fn encode_capped(&self, object: &Object) -> Result<Vec<u8>> {
        let bytes = encode(object)?;
        match self.max_object_bytes {
            Some(max) if bytes.len() > max => Err(Error::TooLarge(format!(
                "object size limit: this {} object would be {} bytes, over the limit of {max} \
                 bytes per object",
                type_of(object),
                bytes.len()
            ))),
            _ => Ok(bytes),
        }
    }

    /// Creates an object in this write set; returns it as a reader sees it (no secrets).
    pub fn create(&mut self, type_name: &str, properties: Value) -> Result<Object> {
        let schema = self.store.schema();
        let mut object = props::create(schema, type_name, properties)?;
        schema.check_links(&object, None, |id| self.peek(id))?;
        let bytes = self.encode_capped(&object)?;
        let id = record::id_of(&object).to_owned();
        self.by_id.insert(id.clone(), self.writes.len());
        self.writes.push(Write {
            id,
            type_name: type_name.to_owned(),
            existed: false,
            base: 0,
            bytes: Some(bytes),
            keeps_status: false,
            unique: self.store.schema().unique(type_name),
        });
        props::strip_secrets(self.store.schema(), &mut object);
        Ok(object)
    }

    /// Reads an object as this write set sees it, with secrets removed.
    pub fn get(&self, id: &str) -> Result<Option<Object>> {
        let mut object = self.load(id)?;
        if let Some(object) = &mut object {
            props::strip_secrets(self.store.schema(), object);
        }
        Ok(object)
    }

    /// Merges `patch` into the object (`null` removes a property).
    pub fn update(&mut self, id: &str, patch: Value) -> Result<Object> {
        let schema = self.store.schema().clone();
        self.rewrite(id, |current| props::merge(&schema, current, patch))
    }

    /// Replaces all user properties of the object.
    pub fn replace(&mut self, id: &str, properties: Value) -> Result<Object> {
        let schema = self.store.schema().clone();
        self.rewrite(id, |current| props::replace(&schema, current, properties))
    }

    /// Deletes the object; returns whether it existed (as this write set sees it).
    pub fn delete(&mut self, id: &str) -> Result<bool> {
        if let Some(&i) = self.by_id.get(id) {
            return Ok(self.writes[i].bytes.take().is_some());
        }
        let Some(object) = self.load(id)? else {
            return Ok(false);
        };
        self.put(id, type_of(&object), None);
        Ok(true)
    }

    /// Makes this transaction's writes to `id` conditional on the object being at `version`
    /// (HTTP `If-Match`): a conflict now if it is not, and at commit if it changes meanwhile.
    pub fn expect_version(&mut self, id: &str, version: u64) -> Result<()> {
        let object = self.load(id)?.ok_or_else(|| not_found(id))?;
        let current = props::version_of(&object);
        if current != version {
            return Err(stale(type_of(&object), id, version, current));
        }
        Ok(())
    }

    /// Finds objects of a type, including this write set's uncommitted changes.
    pub fn query(&self, type_name: &str, query: &Query) -> Result<Page> {
        types::validate_type_name(type_name)?;
        // Taken before reading, so a change that lands during the scan counts as after it.
        if self.queried_at.get().is_none() {
            self.queried_at.set(Some(self.store.changed()));
        }
        if let Some(page) = self.sorted_by_index(type_name, query)? {
            return Ok(page);
        }
        // What this transaction wrote stands in for what is committed: in place where the
        // scan meets it, after the scan otherwise (created objects, and changed ones an index
        // did not offer because their stored value does not match).
        let met = RefCell::new(vec![false; self.writes.len()]);
        let committed =
            (self
                .store
                .backend()
                .scan(self.store.tenant(), type_name, &query.filters)?)
            .filter_map(|object| {
                let object = match object {
                    Ok(object) => object,
                    Err(e) => return Some(Err(e)),
                };
                match self.by_id.get(record::id_of(&object)) {
                    None => Some(Ok(object)),
                    Some(&i) => {
                        met.borrow_mut()[i] = true;
                        self.writes[i].bytes.as_deref().map(decode)
                    }
                }
            });
        let written = (self.writes.iter().enumerate())
            .filter(|(i, write)| write.type_name == type_name && !met.borrow()[*i])
            .filter_map(|(_, write)| write.bytes.as_deref().map(decode));
        let page = query.page(committed.chain(written).map(|object| {
            object.map(|mut object| {
                // Before matching, so a query cannot probe for a secret's value.
                props::strip_secrets(self.store.schema(), &mut object);
                object
            })
        }))?;
        // Only the rows handed out count as read: a scan may pass over many more.
        for object in &page.result {
            self.saw(object);
        }
        Ok(page)
    }

    /// Whether the write set is empty.
    pub fn is_empty(&self) -> bool {
        self.writes
            .iter()
            .all(|write| !write.existed && write.bytes.is_none())
    }

    /// Applies every write atomically and notifies subscribers.
    pub fn commit(self) -> Result<Vec<Change>> {
        if self.writes.is_empty() {
            return Ok(Vec::new());
        }
        let store = self.store.clone();
        let mut outcomes = commit_together(&store, vec![self])?;
        outcomes.pop().expect("one outcome per write set")
    }

    /// Like [`Txn::commit`], but shares one engine transaction with the write sets other tasks
    /// commit at the same time (group commit): the engine writes once per transaction, so
    /// under load many write sets cost one write. Each set still lands whole or not at all,
    /// and one that conflicts fails alone.
    pub async fn commit_grouped(self) -> Result<Vec<Change>> {
        if self.writes.is_empty() {
            return Ok(Vec::new());
        }
        let store = self.store.clone();
        store.inner.committer.commit(self).await
    }

    /// The changes this write set makes, once it is committed.
    fn into_changes(self) -> Vec<Change> {
        let tenant = self.store.tenant().to_owned();
        (self.writes.into_iter())
            .filter_map(|write| change(&tenant, write))
            .collect()
    }

    /// A page sorted by an indexed property, with a limit, read in index order; `None` where
    /// that does not apply (no such index, no limit, this transaction wrote objects of the
    /// type, or a `total` that would have to load every match anyway).
    fn sorted_by_index(&self, type_name: &str, query: &Query) -> Result<Option<Page>> {
        let (Some(property), Some(limit)) = (&query.sort, query.limit) else {
            return Ok(None);
        };
        if (query.total && !query.filters.is_empty())
            || self.writes.iter().any(|write| write.type_name == type_name)
        {
            return Ok(None);
        }
        let backend = self.store.backend();
        let tenant = self.store.tenant();
        let Some(objects) = backend.sorted(tenant, type_name, property, query.order)? else {
            return Ok(None);
        };
        let sorted::Sorted::Page(mut page) =
            sorted::page(self.store.schema(), objects, property, query, limit)?
        else {
            return Ok(None);
        };
        if query.total {
            // No filters: every object of the type matches.
            page.total = backend.count(tenant, type_name)?;
        }
        for object in &page.result {
            self.saw(object);
        }
        Ok(Some(page))
    }

    /// The current object with secrets: this transaction's version if it wrote one. A
    /// committed object's version, or its absence, is remembered as read.
    fn load(&self, id: &str) -> Result<Option<Object>> {
        self.read(id, |object| object.into_owned())
    }

    /// What `f` makes of the current object, read as [`Txn::get`] reads it but lent rather
    /// than copied where the store has it cached: for the host's own checks of a few fields
    /// (a publish's client). `f` sees secrets; what it returns must not carry them.
    pub fn inspect<T>(&self, id: &str, f: impl FnOnce(&Object) -> T) -> Result<Option<T>> {
        self.read(id, |object| f(&object))
    }

    /// [`Txn::load`] handing the object to `f`.
    fn read<T>(&self, id: &str, f: impl FnOnce(Cow<'_, Object>) -> T) -> Result<Option<T>> {
        if let Some(&i) = self.by_id.get(id) {
            return Ok(self.written(i)?.map(|object| f(Cow::Owned(object))));
        }
        let found = self.store.read(id, |object| {
            self.saw(&object);
            f(object)
        })?;
        if found.is_none() {
            self.seen.borrow_mut().entry(id.to_owned()).or_insert(0);
        }
        Ok(found)
    }

    /// Whether everything this write set was computed from is still as it was read: each
    /// object it read (or found missing) is unchanged, and, if it ran a query, no object of
    /// any type changed since (a query may have matched one created later). While this
    /// holds, writes computed earlier are as good as writes computed now.
    pub fn reads_current(&self) -> Result<bool> {
        if (self.queried_at.get()).is_some_and(|at| at != self.store.changed()) {
            return Ok(false);
        }
        for (id, &version) in self.seen.borrow().iter() {
            if self.store.version(id)?.unwrap_or(0) != version {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Like [`Txn::load`], without remembering the read.
    fn peek(&self, id: &str) -> Result<Option<Object>> {
        match self.by_id.get(id) {
            Some(&i) => self.written(i),
            None => self.store.load(id),
        }
    }

    /// This write set's `i`-th write: the object it leaves, or none for a delete.
    fn written(&self, i: usize) -> Result<Option<Object>> {
        self.writes[i].bytes.as_deref().map(decode).transpose()
    }

    /// Remembers the version of a committed object handed out by a read, unless an earlier
    /// read or this transaction's own write already accounts for it.
    fn saw(&self, object: &Object) {
        let id = record::id_of(object);
        if !self.by_id.contains_key(id) {
            let mut seen = self.seen.borrow_mut();
            seen.entry(id.to_owned())
                .or_insert_with(|| props::version_of(object));
        }
    }

    fn rewrite(
        &mut self,
        id: &str,
        change: impl FnOnce(Object) -> Result<Object>,
    ) -> Result<Object> {
        let current = self.load(id)?.ok_or_else(|| not_found(id))?;
        let before =
            (type_of(&current) == switchyard_model::MESSAGE_SUBSCRIBER).then(|| current.clone());
        let mut object = change(current)?;
        self.store
            .schema()
            .check_links(&object, before.as_ref(), |id| self.peek(id))?;
        let bytes = self.encode_capped(&object)?;
        self.put(id, type_of(&object), Some(bytes));
        props::strip_secrets(self.store.schema(), &mut object);
        Ok(object)
    }

    fn put(&mut self, id: &str, type_name: &str, bytes: Option<Vec<u8>>) {
        if let Some(&i) = self.by_id.get(id) {
            self.writes[i].bytes = bytes;
            return;
        }
        // Every path here loaded the object first, so its version was seen.
        let base = self.seen.borrow().get(id).copied().unwrap_or_default();
        let schema = self.store.schema();
        let (keeps_status, unique) = (schema.has_status(type_name), schema.unique(type_name));
        self.by_id.insert(id.to_owned(), self.writes.len());
        self.writes.push(Write {
            id: id.to_owned(),
            type_name: type_name.to_owned(),
            existed: true,
            base,
            bytes,
            keeps_status,
            unique,
        });
    }
}
