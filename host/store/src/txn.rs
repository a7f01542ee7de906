//! Write sets: buffered creates, updates and deletes that read their own writes and commit
//! atomically.
//!
//! A transaction keeps an overlay of encoded objects (or deletions) over the database; reads
//! consult the overlay first. Commit applies the overlay in one sled transaction, so a plugin
//! invocation's writes land together or not at all, and then announces the changes.
//!
//! Writes are checked optimistically: the transaction remembers the version of every committed
//! object it read, and a write to an object commits only if the object still has that version.
//! A writer that computed its change from a stale read gets [`Error::Conflict`] and nothing is
//! applied, so concurrent writers never silently undo each other's updates.

use crate::record::{self, decode, encode, index_key, index_prefix, object_key, type_of};
use crate::{
    Change, ChangeKind, Error, Object, Page, Query, Result, Store, index, props, sorted, types,
};
use serde_json::Value;
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};
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

/// The pending state of one object.
struct Write {
    id: String,
    type_name: String,
    /// Whether the object was committed before this transaction touched it; such objects
    /// must still exist at commit, or someone deleted them meanwhile.
    existed: bool,
    /// For objects that existed: the version this transaction read; the stored object must
    /// still have it at commit.
    base: u64,
    /// The encoded object (secrets included), or `None` once deleted.
    bytes: Option<Vec<u8>>,
}

impl Write {
    fn change(self) -> Option<Change> {
        let kind = match (self.existed, self.bytes.is_some()) {
            (false, true) => ChangeKind::Created,
            (true, true) => ChangeKind::Updated,
            (true, false) => ChangeKind::Deleted,
            (false, false) => return None,
        };
        Some(Change {
            kind,
            type_name: self.type_name,
            id: self.id,
        })
    }

    /// The stored object this write replaces, if it replaces one, after checking that it is
    /// still the version this write was based on (an `Abort` when it is not).
    fn check(
        &self,
        tx: &TransactionalTree,
    ) -> ConflictableTransactionResult<Option<Object>, Error> {
        if !self.existed {
            return Ok(None);
        }
        let Some(stored) = tx.get(object_key(&self.id))? else {
            return Err(ConflictableTransactionError::Abort(Error::Conflict(
                format!(
                    "{} {} was deleted by another writer; nothing was written",
                    self.type_name, self.id
                ),
            )));
        };
        let stored = aborting(decode(&stored))?;
        let current = props::version_of(&stored);
        if current != self.base {
            return Err(ConflictableTransactionError::Abort(stale(
                &self.type_name,
                &self.id,
                self.base,
                current,
            )));
        }
        Ok(Some(stored))
    }

    /// Applies this write inside the sled transaction, over `stored` (what [`Write::check`]
    /// found), with the entries of the type's secondary indexes on `indexed` properties.
    fn apply(
        &self,
        tx: &TransactionalTree,
        indexed: &[String],
        stored: Option<Object>,
    ) -> ConflictableTransactionResult<(), Error> {
        let key = object_key(&self.id);
        let Some(stored) = stored else {
            if let Some(bytes) = &self.bytes {
                tx.insert(key, bytes.as_slice())?;
                tx.insert(index_key(&self.type_name, &self.id), sled::IVec::default())?;
                if !indexed.is_empty() {
                    self.index(tx, indexed, None, Some(&aborting(decode(bytes))?))?;
                }
            }
            return Ok(());
        };
        let written = match &self.bytes {
            Some(bytes) if props::has_status(&self.type_name) => {
                let mut object = aborting(decode(bytes))?;
                props::carry_status(&mut object, &stored);
                tx.insert(key, aborting(encode(&object))?)?;
                Some(object)
            }
            Some(bytes) => {
                tx.insert(key, bytes.as_slice())?;
                (!indexed.is_empty())
                    .then(|| aborting(decode(bytes)))
                    .transpose()?
            }
            None => {
                tx.remove(key)?;
                tx.remove(index_key(&self.type_name, &self.id))?;
                None
            }
        };
        if !indexed.is_empty() {
            self.index(tx, indexed, Some(&stored), written.as_ref())?;
        }
        Ok(())
    }

    /// Moves this object's index entries from what was stored to what is written.
    fn index(
        &self,
        tx: &TransactionalTree,
        indexed: &[String],
        stored: Option<&Object>,
        written: Option<&Object>,
    ) -> ConflictableTransactionResult<(), Error> {
        for property in indexed {
            let entry = |object: &Object| index::entry(&self.type_name, property, object, &self.id);
            let old = stored.map(entry);
            let new = written.map(entry);
            if old == new {
                continue;
            }
            if let Some(old) = old {
                tx.remove(old)?;
            }
            if let Some(new) = new {
                tx.insert(new, sled::IVec::default())?;
            }
        }
        Ok(())
    }
}

/// Commits write sets in one sled transaction, in order, each seeing the ones before it:
/// what became of each, or the storage error that stopped them all. Announces the changes of
/// those that committed.
pub(crate) fn commit_together(store: &Store, txns: Vec<Txn>) -> Result<Vec<Result<Vec<Change>>>> {
    // Read at commit, so an index declared meanwhile is kept by this commit too.
    let indexes = &store.inner.indexes;
    let indexed: Vec<Vec<Vec<String>>> = (txns.iter())
        .map(|txn| {
            (txn.writes.iter())
                .map(|w| indexes.of(&w.type_name))
                .collect()
        })
        .collect();
    let started = std::time::Instant::now();
    let applied = (store.inner.objects)
        .transaction(|tx| {
            (txns.iter().zip(&indexed))
                .map(|(txn, indexed)| txn.apply_within(tx, indexed))
                .collect::<ConflictableTransactionResult<Vec<_>, Error>>()
        })
        .map_err(transaction_error)?;
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

/// Lifts a store error into a sled transaction abort.
pub(crate) fn aborting<T>(result: Result<T>) -> ConflictableTransactionResult<T, Error> {
    result.map_err(ConflictableTransactionError::Abort)
}

/// Lowers a sled transaction's outcome back into a store error.
pub(crate) fn transaction_error(error: TransactionError<Error>) -> Error {
    match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => Error::Storage(error),
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound(format!("no object with id `{id}`"))
}

fn stale(type_name: &str, id: &str, read: u64, current: u64) -> Error {
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
        let mut object = props::create(type_name, properties)?;
        types::check_links(&object, |id| self.peek(id))?;
        let bytes = self.encode_capped(&object)?;
        let id = record::id_of(&object).to_owned();
        self.by_id.insert(id.clone(), self.writes.len());
        self.writes.push(Write {
            id,
            type_name: type_name.to_owned(),
            existed: false,
            base: 0,
            bytes: Some(bytes),
        });
        props::strip_secrets(&mut object);
        Ok(object)
    }

    /// Reads an object as this write set sees it, with secrets removed.
    pub fn get(&self, id: &str) -> Result<Option<Object>> {
        let mut object = self.load(id)?;
        if let Some(object) = &mut object {
            props::strip_secrets(object);
        }
        Ok(object)
    }

    /// Merges `patch` into the object (`null` removes a property).
    pub fn update(&mut self, id: &str, patch: Value) -> Result<Object> {
        self.rewrite(id, |current| props::merge(current, patch))
    }

    /// Replaces all user properties of the object.
    pub fn replace(&mut self, id: &str, properties: Value) -> Result<Object> {
        self.rewrite(id, |current| props::replace(current, properties))
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
        let objects = &self.store.inner.objects;
        let plan = self.store.inner.indexes.plan(type_name, &query.filters);
        let committed: Box<dyn Iterator<Item = Result<Object>>> = match &plan {
            None => {
                let prefix = index_prefix(type_name);
                let keys = objects.scan_prefix(&prefix).keys();
                Box::new(
                    keys.filter_map(move |key| self.load_indexed(key, prefix.len()).transpose()),
                )
            }
            // Only the index's candidates; what this transaction wrote comes below.
            Some((property, ranges)) => {
                let head = index::head(type_name, property).len();
                let keys = ranges
                    .iter()
                    .flat_map(|range| objects.range(range.clone()).keys());
                Box::new(keys.filter_map(move |key| self.load_entry(key, head).transpose()))
            }
        };
        // Objects this transaction created; with an index, also those it changed.
        let written = self
            .writes
            .iter()
            .filter(|write| write.type_name == type_name && (plan.is_some() || !write.existed))
            .filter_map(|write| write.bytes.as_deref())
            .map(decode);
        let page = query.page(committed.chain(written).map(|object| {
            object.map(|mut object| {
                // Before matching, so a query cannot probe for a secret's value.
                props::strip_secrets(&mut object);
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

    /// Like [`Txn::commit`], but shares one sled transaction with the write sets other tasks
    /// commit at the same time (group commit): sled writes its log once per transaction, so
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
        self.writes.into_iter().filter_map(Write::change).collect()
    }

    /// Applies every write inside a sled transaction that may hold other write sets too:
    /// `Ok(Err(_))`, with nothing of this set applied, if one of its writes conflicts.
    fn apply_within(
        &self,
        tx: &TransactionalTree,
        indexed: &[Vec<String>],
    ) -> ConflictableTransactionResult<Result<()>, Error> {
        // Every check before any write, so a set that fails leaves nothing behind.
        let mut stored = Vec::with_capacity(self.writes.len());
        for write in &self.writes {
            match write.check(tx) {
                Err(ConflictableTransactionError::Abort(e)) => return Ok(Err(e)),
                other => stored.push(other?),
            }
        }
        for ((write, indexed), stored) in self.writes.iter().zip(indexed).zip(stored) {
            write.apply(tx, indexed, stored)?;
        }
        Ok(Ok(()))
    }

    /// A page sorted by an indexed property, with a limit, read in index order; `None` where
    /// that does not apply (no such index, no limit, this transaction wrote objects of the
    /// type, or a `total` that would have to load every match anyway).
    fn sorted_by_index(&self, type_name: &str, query: &Query) -> Result<Option<Page>> {
        let (Some(property), Some(limit)) = (&query.sort, query.limit) else {
            return Ok(None);
        };
        let inner = &self.store.inner;
        if !inner.indexes.of(type_name).contains(property)
            || (query.total && !query.filters.is_empty())
            || self.writes.iter().any(|write| write.type_name == type_name)
        {
            return Ok(None);
        }
        let entries = index::Entries::new(inner.objects.clone(), type_name, property);
        let head = index::head(type_name, property).len();
        let load = |key: sled::IVec| self.load_entry(Ok(key), head);
        let sorted::Sorted::Page(mut page) = sorted::page(&entries, query, limit, load)? else {
            return Ok(None);
        };
        if query.total {
            // No filters: every object of the type matches, and its keys say how many.
            page.total = inner
                .objects
                .scan_prefix(index_prefix(type_name))
                .keys()
                .count();
        }
        for object in &page.result {
            self.saw(object);
        }
        Ok(Some(page))
    }

    /// The current object with secrets: this transaction's version if it wrote one. A
    /// committed object's version, or its absence, is remembered as read.
    fn load(&self, id: &str) -> Result<Option<Object>> {
        let object = self.peek(id)?;
        match &object {
            Some(object) => self.saw(object),
            None if !self.by_id.contains_key(id) => {
                self.seen.borrow_mut().entry(id.to_owned()).or_insert(0);
            }
            None => {}
        }
        Ok(object)
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
            Some(&i) => self.writes[i].bytes.as_deref().map(decode).transpose(),
            None => self.store.load(id),
        }
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

    /// The committed object a secondary index entry points at, unless this transaction wrote
    /// it (those are read from its writes) or it is gone.
    fn load_entry(&self, key: sled::Result<sled::IVec>, head: usize) -> Result<Option<Object>> {
        let key = key?;
        let id = index::id_of_entry(head, &key)?;
        if self.by_id.contains_key(id) {
            return Ok(None);
        }
        self.store.load(id)
    }

    /// The object an index key points at; `None` if it is gone (deleted here, or concurrently
    /// between reading the index and the object).
    fn load_indexed(
        &self,
        key: sled::Result<sled::IVec>,
        prefix_len: usize,
    ) -> Result<Option<Object>> {
        let key = key?;
        let id = std::str::from_utf8(&key[prefix_len..])
            .map_err(|_| Error::Corrupt(format!("index key {key:?} is not UTF-8")))?;
        self.peek(id)
    }

    fn rewrite(
        &mut self,
        id: &str,
        change: impl FnOnce(Object) -> Result<Object>,
    ) -> Result<Object> {
        let current = self.load(id)?.ok_or_else(|| not_found(id))?;
        let mut object = change(current)?;
        types::check_links(&object, |id| self.peek(id))?;
        let bytes = self.encode_capped(&object)?;
        self.put(id, type_of(&object), Some(bytes));
        props::strip_secrets(&mut object);
        Ok(object)
    }

    fn put(&mut self, id: &str, type_name: &str, bytes: Option<Vec<u8>>) {
        if let Some(&i) = self.by_id.get(id) {
            self.writes[i].bytes = bytes;
            return;
        }
        // Every path here loaded the object first, so its version was seen.
        let base = self.seen.borrow().get(id).copied().unwrap_or_default();
        self.by_id.insert(id.to_owned(), self.writes.len());
        self.writes.push(Write {
            id: id.to_owned(),
            type_name: type_name.to_owned(),
            existed: true,
            base,
            bytes,
        });
    }
}
