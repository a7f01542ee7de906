//! The embedded engine: one redb file under the data directory.
//!
//! redb is a copy-on-write B-tree with a page cache of a configured size, so the process's
//! memory stays within that cache whatever the number of stored objects (sled, used before,
//! grew by about 300 bytes per object; see the README's benchmark). Commits are written without
//! `fsync` ([`Durability::None`]) and [`Backend::flush`] makes everything committed so far
//! durable with one empty commit that does `fsync`: acknowledgements wait for that flush, and
//! everyone waiting shares it. redb has one writer at a time, which is what group commit
//! wants anyway: a batch of write sets is one transaction.
//!
//! Tables: `objects` (id → JSON), `objects-by-type` (`<type>/<id>`, so a query scans its type
//! only, in creation order: ids are UUID v7), `index-entries` and `indexes` (see [`index`]),
//! `spaces` (`<space>\0<key>` → bytes) and `queues` (`<queue>\0<due ms><uuid>` → record).

mod import;
mod index;
mod sorted;
mod write;

use crate::backend::{Backend, Objects, Write};
use crate::{Error, Filter, Object, Order, Queued, Result, record};
use ::redb::{
    Database, Durability, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition, WriteTransaction,
};
use index::Catalogue;
use std::ops::Bound;
use std::path::Path;

const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
const BY_TYPE: TableDefinition<&[u8], ()> = TableDefinition::new("objects-by-type");
const ENTRIES: TableDefinition<&[u8], ()> = TableDefinition::new("index-entries");
const INDEXES: TableDefinition<&str, ()> = TableDefinition::new("indexes");
const SPACES: TableDefinition<&str, &[u8]> = TableDefinition::new("spaces");
const QUEUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("queues");

/// The database file in the data directory.
pub(crate) const FILE: &str = "switchyard.redb";

/// Objects an index is built from per transaction, so building one over a large type does not
/// hold the writer for long.
const INDEX_CHUNK: usize = 10_000;

pub(crate) struct Embedded {
    db: Database,
    indexes: Catalogue,
}

fn failed<E: std::error::Error + Send + Sync + 'static>(
    doing: &'static str,
) -> impl Fn(E) -> Error {
    move |e| Error::storage(doing, e)
}

/// `<type>/`: the start of a type's keys in `objects-by-type`. Type names cannot contain `/`.
fn type_prefix(type_name: &str) -> Vec<u8> {
    [type_name.as_bytes(), b"/"].concat()
}

fn type_key(type_name: &str, id: &str) -> Vec<u8> {
    [type_name.as_bytes(), b"/", id.as_bytes()].concat()
}

/// The range of keys starting with `prefix` (none of which end in 0xFF bytes only).
fn prefixed(prefix: &[u8]) -> (Bound<&[u8]>, Bound<Vec<u8>>) {
    (Bound::Included(prefix), Bound::Excluded(after(prefix)))
}

/// The first key past every key starting with `prefix`.
fn after(prefix: &[u8]) -> Vec<u8> {
    [prefix, &[0xFF]].concat()
}

fn space_key(space: &str, key: &str) -> String {
    format!("{space}\0{key}")
}

fn queue_prefix(queue: &str) -> Vec<u8> {
    [queue.as_bytes(), b"\0"].concat()
}

impl Embedded {
    /// Opens (or creates) the database in `dir` with a page cache of `cache_bytes`; a data
    /// directory written by an earlier, sled-based version is imported first.
    pub(crate) fn open(dir: &Path, cache_bytes: usize) -> Result<Embedded> {
        std::fs::create_dir_all(dir).map_err(failed("creating the data directory"))?;
        let path = dir.join(FILE);
        let fresh = !path.exists();
        let db = ::redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(&path)
            .map_err(failed("opening the database"))?;
        let embedded = Embedded {
            db,
            indexes: Catalogue::default(),
        };
        embedded.create_tables()?;
        if fresh {
            import::from_sled(dir, &embedded)?;
        }
        embedded.load_catalogue()?;
        Ok(embedded)
    }

    fn create_tables(&self) -> Result<()> {
        let tx = self.write()?;
        {
            let doing = "creating the tables";
            tx.open_table(OBJECTS).map_err(failed(doing))?;
            tx.open_table(BY_TYPE).map_err(failed(doing))?;
            tx.open_table(ENTRIES).map_err(failed(doing))?;
            tx.open_table(INDEXES).map_err(failed(doing))?;
            tx.open_table(SPACES).map_err(failed(doing))?;
            tx.open_table(QUEUES).map_err(failed(doing))?;
        }
        self.finish(tx, Durability::Immediate)
    }

    fn load_catalogue(&self) -> Result<()> {
        let table = self.table(INDEXES)?;
        let range = table
            .range::<&str>(..)
            .map_err(failed("reading the indexes"))?;
        for entry in range {
            let (key, _) = entry.map_err(failed("reading the indexes"))?;
            let (type_name, property) = index::split_definition(key.value().as_bytes())?;
            self.indexes.set(&type_name, &property, true);
        }
        Ok(())
    }

    fn read(&self) -> Result<ReadTransaction> {
        self.db.begin_read().map_err(failed("starting a read"))
    }

    fn table<K: ::redb::Key + 'static, V: ::redb::Value + 'static>(
        &self,
        definition: TableDefinition<K, V>,
    ) -> Result<ReadOnlyTable<K, V>> {
        open(&self.read()?, definition)
    }

    /// A write transaction; it is not durable unless finished with [`Durability::Immediate`]
    /// or followed by a flush.
    fn write(&self) -> Result<WriteTransaction> {
        self.db.begin_write().map_err(failed("starting a write"))
    }

    fn finish(&self, mut tx: WriteTransaction, durability: Durability) -> Result<()> {
        (tx.set_durability(durability)).map_err(failed("committing"))?;
        tx.commit().map_err(failed("committing"))
    }

    /// The object stored under `id` in an objects table.
    fn object(
        table: &impl ReadableTable<&'static str, &'static [u8]>,
        id: &str,
    ) -> Result<Option<Object>> {
        let stored = table.get(id).map_err(failed("reading an object"))?;
        stored
            .map(|bytes| record::decode(bytes.value()))
            .transpose()
    }

    /// The objects whose ids `id_of` finds in the keys of `keys`, read from `objects` (of the
    /// same read transaction); an id without its object is skipped.
    fn objects_at<'a>(
        objects: ReadOnlyTable<&'static str, &'static [u8]>,
        keys: impl Iterator<Item = Result<Vec<u8>>> + 'a,
        id_of: impl Fn(&[u8]) -> Result<&str> + 'a,
    ) -> Objects<'a> {
        Box::new(keys.filter_map(move |key| {
            let found = key.and_then(|key| Embedded::object(&objects, id_of(&key)?));
            found.transpose()
        }))
    }

    /// The keys of a range of a key-only table, read lazily.
    fn keys(
        table: &ReadOnlyTable<&'static [u8], ()>,
        (start, end): (Bound<&[u8]>, Bound<Vec<u8>>),
    ) -> Result<impl Iterator<Item = Result<Vec<u8>>> + 'static> {
        let range = (table.range::<&[u8]>((start, end.as_ref().map(Vec::as_slice))))
            .map_err(failed("reading a range"))?;
        Ok(range.map(|entry| {
            let (key, _) = entry.map_err(failed("reading a range"))?;
            Ok(key.value().to_vec())
        }))
    }
}

/// A table of a read transaction, for reads that must see one snapshot across tables.
fn open<K: ::redb::Key + 'static, V: ::redb::Value + 'static>(
    tx: &ReadTransaction,
    definition: TableDefinition<K, V>,
) -> Result<ReadOnlyTable<K, V>> {
    tx.open_table(definition).map_err(failed("opening a table"))
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| Error::Corrupt(format!("key {bytes:?} is not UTF-8")))
}

impl Backend for Embedded {
    fn load(&self, id: &str) -> Result<Option<Object>> {
        Embedded::object(&self.table(OBJECTS)?, id)
    }

    fn scan(&self, type_name: &str, filters: &[Filter]) -> Result<Objects<'_>> {
        let tx = self.read()?;
        let objects = open(&tx, OBJECTS)?;
        let Some((property, ranges)) = self.indexes.plan(type_name, filters) else {
            let prefix = type_prefix(type_name);
            let skip = prefix.len();
            let keys = Embedded::keys(&open(&tx, BY_TYPE)?, prefixed(&prefix))?;
            return Ok(Embedded::objects_at(objects, keys, move |key| {
                utf8(&key[skip..])
            }));
        };
        let entries = open(&tx, ENTRIES)?;
        let head = index::head(type_name, &property).len();
        let mut keys = Vec::new();
        for (start, end) in ranges {
            let start = start.as_ref().map(Vec::as_slice);
            keys.push(Embedded::keys(&entries, (start, end))?);
        }
        Ok(Embedded::objects_at(
            objects,
            keys.into_iter().flatten(),
            move |key| index::id_of_entry(head, key),
        ))
    }

    fn sorted(&self, type_name: &str, property: &str, order: Order) -> Result<Option<Objects<'_>>> {
        if !self.indexes.is_ready(type_name, property) {
            return Ok(None);
        }
        let tx = self.read()?;
        let (objects, entries) = (open(&tx, OBJECTS)?, open(&tx, ENTRIES)?);
        sorted::objects(objects, entries, index::head(type_name, property), order)
    }

    fn count(&self, type_name: &str) -> Result<usize> {
        let prefix = type_prefix(type_name);
        let mut keys = Embedded::keys(&self.table(BY_TYPE)?, prefixed(&prefix))?;
        keys.try_fold(0, |n, key| key.map(|_| n + 1))
    }

    fn sizes(&self, type_name: &str) -> Result<Vec<(String, usize)>> {
        let tx = self.read()?;
        let objects = open(&tx, OBJECTS)?;
        let prefix = type_prefix(type_name);
        let mut sizes = Vec::new();
        for key in Embedded::keys(&open(&tx, BY_TYPE)?, prefixed(&prefix))? {
            let key = key?;
            let id = utf8(&key[prefix.len()..])?;
            if let Some(bytes) = objects.get(id).map_err(failed("reading an object"))? {
                sizes.push((id.to_owned(), bytes.value().len()));
            }
        }
        Ok(sizes)
    }

    fn types(&self) -> Result<Vec<String>> {
        let table = self.table(BY_TYPE)?;
        let mut types = Vec::new();
        let mut from = Vec::new();
        loop {
            let mut range =
                (table.range::<&[u8]>(from.as_slice()..)).map_err(failed("listing the types"))?;
            let Some(entry) = range.next() else {
                return Ok(types);
            };
            let (key, _) = entry.map_err(failed("listing the types"))?;
            let key = key.value();
            let end = key.iter().position(|&b| b == b'/').unwrap_or(key.len());
            types.push(utf8(&key[..end])?.to_owned());
            // `0` follows `/`: the first key past every key of this type.
            from = [&key[..end], b"0"].concat();
        }
    }

    fn commit(&self, sets: &[&[Write]]) -> Result<Vec<Result<()>>> {
        let tx = self.write()?;
        let outcomes = write::apply(&tx, &self.indexes, sets)?;
        self.finish(tx, Durability::None)?;
        Ok(outcomes)
    }

    fn set_status(&self, id: &str, fields: &Object) -> Result<Option<String>> {
        let tx = self.write()?;
        let type_name = write::set_status(&tx, id, fields)?;
        self.finish(tx, Durability::None)?;
        Ok(type_name)
    }

    fn create_index(&self, type_name: &str, property: &str) -> Result<Option<usize>> {
        if self.indexes.is_ready(type_name, property) {
            return Ok(None);
        }
        // Declared first: writes that commit from now on keep their entries themselves, and
        // what an earlier, interrupted build left behind is cleared.
        self.indexes.set(type_name, property, false);
        let head = index::head(type_name, property);
        let tx = self.write()?;
        write::clear(&tx, &head)?;
        self.finish(tx, Durability::None)?;
        let mut from = type_prefix(type_name);
        let mut indexed = 0;
        loop {
            let tx = self.write()?;
            let (done, next) = write::index_chunk(&tx, type_name, property, &from, INDEX_CHUNK)?;
            indexed += done;
            let Some(next) = next else {
                let definition = index::definition(type_name, property);
                let mut table = tx
                    .open_table(INDEXES)
                    .map_err(failed("declaring an index"))?;
                (table.insert(utf8(&definition)?, ())).map_err(failed("declaring an index"))?;
                drop(table);
                self.finish(tx, Durability::Immediate)?;
                break;
            };
            self.finish(tx, Durability::None)?;
            from = next;
        }
        self.indexes.set(type_name, property, true);
        Ok(Some(indexed))
    }

    fn drop_index(&self, type_name: &str, property: &str) -> Result<bool> {
        if !self.indexes.forget(type_name, property) {
            return Ok(false);
        }
        let tx = self.write()?;
        let definition = index::definition(type_name, property);
        {
            let mut table = tx
                .open_table(INDEXES)
                .map_err(failed("removing an index"))?;
            (table.remove(utf8(&definition)?)).map_err(failed("removing an index"))?;
        }
        write::clear(&tx, &index::head(type_name, property))?;
        self.finish(tx, Durability::Immediate)?;
        Ok(true)
    }

    fn indexes(&self) -> Vec<(String, String)> {
        self.indexes.all()
    }

    fn flush(&self) -> Result<()> {
        // An empty commit that syncs makes every commit before it durable.
        self.finish(self.write()?, Durability::Immediate)
    }

    fn space_get(&self, space: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let table = self.table(SPACES)?;
        let value =
            (table.get(space_key(space, key).as_str())).map_err(failed("reading a setting"))?;
        Ok(value.map(|value| value.value().to_vec()))
    }

    fn space_list(&self, space: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let table = self.table(SPACES)?;
        let start = space_key(space, prefix);
        let range = table
            .range::<&str>(start.as_str()..)
            .map_err(failed("listing a space"))?;
        let mut entries = Vec::new();
        for entry in range {
            let (key, value) = entry.map_err(failed("listing a space"))?;
            let Some(key) = key.value().strip_prefix(start.as_str()) else {
                break;
            };
            entries.push((format!("{prefix}{key}"), value.value().to_vec()));
        }
        Ok(entries)
    }

    fn space_write(&self, space: &str, entries: &[(&str, Option<&[u8]>)]) -> Result<()> {
        let tx = self.write()?;
        {
            let doing = "writing a space";
            let mut table = tx.open_table(SPACES).map_err(failed(doing))?;
            for (key, value) in entries {
                let key = space_key(space, key);
                match value {
                    Some(value) => table.insert(key.as_str(), *value).map(drop),
                    None => table.remove(key.as_str()).map(drop),
                }
                .map_err(failed(doing))?;
            }
        }
        self.finish(tx, Durability::Immediate)
    }

    fn queue_push(&self, queue: &str, due_ms: u64, record: &[u8]) -> Result<()> {
        // Due time first, so the table's order is the order to take them in; a v7 UUID keeps
        // keys unique.
        let key = [
            queue_prefix(queue).as_slice(),
            &due_ms.to_be_bytes(),
            uuid::Uuid::now_v7().as_bytes(),
        ]
        .concat();
        let tx = self.write()?;
        {
            let mut table = tx.open_table(QUEUES).map_err(failed("queueing"))?;
            (table.insert(key.as_slice(), record)).map_err(failed("queueing"))?;
        }
        self.finish(tx, Durability::None)
    }

    fn queue_first(&self, queue: &str) -> Result<Option<Queued>> {
        let table = self.table(QUEUES)?;
        let prefix = queue_prefix(queue);
        let end = after(&prefix);
        let mut range = (table.range::<&[u8]>(prefix.as_slice()..end.as_slice()))
            .map_err(failed("reading a queue"))?;
        let Some(entry) = range.next() else {
            return Ok(None);
        };
        let (key, record) = entry.map_err(failed("reading a queue"))?;
        let key = key.value().to_vec();
        let due = key
            .get(prefix.len()..prefix.len() + 8)
            .and_then(|b| b.try_into().ok());
        Ok(Some(Queued {
            due_ms: u64::from_be_bytes(due.unwrap_or_default()),
            key,
            record: record.value().to_vec(),
        }))
    }

    fn queue_remove(&self, queue: &str, key: &[u8]) -> Result<()> {
        if !key.starts_with(&queue_prefix(queue)) {
            return Err(Error::Invalid(format!(
                "{key:?} is not a key of queue `{queue}`"
            )));
        }
        let tx = self.write()?;
        {
            let mut table = tx.open_table(QUEUES).map_err(failed("dequeueing"))?;
            table.remove(key).map_err(failed("dequeueing"))?;
        }
        self.finish(tx, Durability::None)
    }
}
