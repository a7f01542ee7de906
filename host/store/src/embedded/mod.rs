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
//! Tables: `objects` (id → `<tenant>\0<JSON>`), `objects-by-type` (`<tenant>\0<type>/<id>`, so
//! a query scans one tenant's type only, in creation order: ids are UUID v7), `index-entries`
//! and `indexes` (see [`index`]; their types are scoped to the tenant the same way), `usage`
//! (tenant → objects and bytes), `unique-values` (`<type>\0<value>` → `<tenant>\0<id>`: who
//! has each value of a property unique on the server), `spaces` and `queues` (see [`beside`])
//! and `meta` (the layout's version).

mod beside;
mod import;
mod index;
mod sorted;
mod write;

use crate::backend::{Backend, Objects, WriteSet};
use crate::{Error, Filter, Object, Order, Queued, Result, Usage, record};
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
const USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("usage");
const SPACES: TableDefinition<&str, &[u8]> = TableDefinition::new("spaces");
const QUEUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("queues");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const UNIQUE: TableDefinition<&str, &str> = TableDefinition::new("unique-values");

/// The version of the layout above, kept in `meta`: a file of another version is refused
/// rather than misread.
const LAYOUT: u64 = 1;

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

/// A type name scoped to its tenant, as keys and the index catalogue carry it: neither tenant
/// nor type names contain `\0`, and type names do not contain `/`.
fn scoped(tenant: &str, type_name: &str) -> String {
    format!("{tenant}\0{type_name}")
}

/// `<tenant>\0`: what every key of a tenant starts with.
fn scope(tenant: &str) -> String {
    format!("{tenant}\0")
}

/// `<scoped type>/`: the start of a type's keys in `objects-by-type`.
fn type_prefix(scoped_type: &str) -> Vec<u8> {
    [scoped_type.as_bytes(), b"/"].concat()
}

fn type_key(scoped_type: &str, id: &str) -> Vec<u8> {
    [scoped_type.as_bytes(), b"/", id.as_bytes()].concat()
}

/// An object as stored: its tenant, then its JSON.
fn stored(tenant: &str, json: &[u8]) -> Vec<u8> {
    [tenant.as_bytes(), b"\0", json].concat()
}

/// The tenant and the JSON of a stored object.
fn unstored(bytes: &[u8]) -> Result<(&str, &[u8])> {
    let split = (bytes.iter().position(|&b| b == 0))
        .ok_or_else(|| Error::Corrupt("a stored object has no tenant".into()))?;
    Ok((utf8(&bytes[..split])?, &bytes[split + 1..]))
}

/// The range of keys starting with `prefix` (none of which end in 0xFF bytes only).
fn prefixed(prefix: &[u8]) -> (Bound<&[u8]>, Bound<Vec<u8>>) {
    (Bound::Included(prefix), Bound::Excluded(after(prefix)))
}

/// The first key past every key starting with `prefix`.
fn after(prefix: &[u8]) -> Vec<u8> {
    [prefix, &[0xFF]].concat()
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| Error::Corrupt(format!("key {bytes:?} is not UTF-8")))
}

/// A table of a read transaction, for reads that must see one snapshot across tables.
fn open<K: ::redb::Key + 'static, V: ::redb::Value + 'static>(
    tx: &ReadTransaction,
    definition: TableDefinition<K, V>,
) -> Result<ReadOnlyTable<K, V>> {
    tx.open_table(definition).map_err(failed("opening a table"))
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
        embedded.create_tables(fresh)?;
        if fresh {
            import::from_sled(dir, &embedded)?;
        }
        embedded.load_catalogue()?;
        Ok(embedded)
    }

    /// Creates the tables, and in a new file records the layout; refuses a file of another
    /// layout.
    fn create_tables(&self, fresh: bool) -> Result<()> {
        let doing = "creating the tables";
        let tx = self.write()?;
        {
            tx.open_table(OBJECTS).map_err(failed(doing))?;
            tx.open_table(BY_TYPE).map_err(failed(doing))?;
            tx.open_table(ENTRIES).map_err(failed(doing))?;
            tx.open_table(INDEXES).map_err(failed(doing))?;
            tx.open_table(USAGE).map_err(failed(doing))?;
            tx.open_table(SPACES).map_err(failed(doing))?;
            tx.open_table(QUEUES).map_err(failed(doing))?;
            tx.open_table(UNIQUE).map_err(failed(doing))?;
            let mut meta = tx.open_table(META).map_err(failed(doing))?;
            if fresh {
                meta.insert("layout", LAYOUT).map_err(failed(doing))?;
            }
            let layout = meta.get("layout").map_err(failed(doing))?;
            match layout.map(|v| v.value()) {
                Some(LAYOUT) => {}
                other => {
                    return Err(Error::Corrupt(format!(
                        "the database's layout is version {other:?}; this Switchyard reads \
                         version {LAYOUT}"
                    )));
                }
            }
        }
        self.finish(tx, Durability::Immediate)
    }

    fn load_catalogue(&self) -> Result<()> {
        let table = self.table(INDEXES)?;
        let range = (table.range::<&str>(..)).map_err(failed("reading the indexes"))?;
        for entry in range {
            let (key, _) = entry.map_err(failed("reading the indexes"))?;
            let (scoped_type, property) = index::split_definition(key.value().as_bytes())?;
            self.indexes.set(&scoped_type, &property, true);
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

    /// The object stored under `id` in an objects table, with its tenant.
    fn object(
        table: &impl ReadableTable<&'static str, &'static [u8]>,
        id: &str,
    ) -> Result<Option<(String, Object)>> {
        let Some(bytes) = table.get(id).map_err(failed("reading an object"))? else {
            return Ok(None);
        };
        let (tenant, json) = unstored(bytes.value())?;
        Ok(Some((tenant.to_owned(), record::decode(json)?)))
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
            found
                .map(|found| found.map(|(_, object)| object))
                .transpose()
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

impl Backend for Embedded {
    fn load(&self, id: &str) -> Result<Option<(String, Object)>> {
        Embedded::object(&self.table(OBJECTS)?, id)
    }

    fn scan(&self, tenant: &str, type_name: &str, filters: &[Filter]) -> Result<Objects<'_>> {
        let tx = self.read()?;
        let objects = open(&tx, OBJECTS)?;
        let scoped_type = scoped(tenant, type_name);
        let Some((property, ranges)) = self.indexes.plan(&scoped_type, filters) else {
            let prefix = type_prefix(&scoped_type);
            let skip = prefix.len();
            let keys = Embedded::keys(&open(&tx, BY_TYPE)?, prefixed(&prefix))?;
            return Ok(Embedded::objects_at(objects, keys, move |key| {
                utf8(&key[skip..])
            }));
        };
        let entries = open(&tx, ENTRIES)?;
        let head = index::head(&scoped_type, &property).len();
        let mut keys = Vec::new();
        for (start, end) in ranges {
            let start = start.as_ref().map(Vec::as_slice);
            keys.push(Embedded::keys(&entries, (start, end))?);
        }
        let keys = keys.into_iter().flatten();
        Ok(Embedded::objects_at(objects, keys, move |key| {
            index::id_of_entry(head, key)
        }))
    }

    fn sorted(
        &self,
        tenant: &str,
        type_name: &str,
        property: &str,
        order: Order,
    ) -> Result<Option<Objects<'_>>> {
        let scoped_type = scoped(tenant, type_name);
        if !self.indexes.is_ready(&scoped_type, property) {
            return Ok(None);
        }
        let tx = self.read()?;
        let (objects, entries) = (open(&tx, OBJECTS)?, open(&tx, ENTRIES)?);
        let head = index::head(&scoped_type, property);
        sorted::objects(objects, entries, head, order)
    }

    fn count(&self, tenant: &str, type_name: &str) -> Result<usize> {
        let prefix = type_prefix(&scoped(tenant, type_name));
        let mut keys = Embedded::keys(&self.table(BY_TYPE)?, prefixed(&prefix))?;
        keys.try_fold(0, |n, key| key.map(|_| n + 1))
    }

    fn sizes(&self, tenant: &str, type_name: &str) -> Result<Vec<(String, usize)>> {
        let tx = self.read()?;
        let objects = open(&tx, OBJECTS)?;
        let prefix = type_prefix(&scoped(tenant, type_name));
        let mut sizes = Vec::new();
        for key in Embedded::keys(&open(&tx, BY_TYPE)?, prefixed(&prefix))? {
            let key = key?;
            let id = utf8(&key[prefix.len()..])?;
            if let Some(bytes) = objects.get(id).map_err(failed("reading an object"))? {
                sizes.push((id.to_owned(), unstored(bytes.value())?.1.len()));
            }
        }
        Ok(sizes)
    }

    fn types(&self, tenant: &str) -> Result<Vec<String>> {
        let table = self.table(BY_TYPE)?;
        let scope = scope(tenant);
        let mut types = Vec::new();
        let mut from = scope.as_bytes().to_vec();
        loop {
            let mut range =
                (table.range::<&[u8]>(from.as_slice()..)).map_err(failed("listing the types"))?;
            let Some(entry) = range.next() else {
                return Ok(types);
            };
            let (key, _) = entry.map_err(failed("listing the types"))?;
            let Some(rest) = key.value().strip_prefix(scope.as_bytes()) else {
                return Ok(types);
            };
            let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
            types.push(utf8(&rest[..end])?.to_owned());
            // `0` follows `/`: the first key past every key of this type.
            from = [scope.as_bytes(), &rest[..end], b"0"].concat();
        }
    }

    fn usage(&self, tenant: &str) -> Result<Usage> {
        let table = self.table(USAGE)?;
        let found = table.get(tenant).map_err(failed("reading the usage"))?;
        let (objects, bytes) = found.map_or((0, 0), |usage| usage.value());
        Ok(Usage { objects, bytes })
    }

    fn tenants(&self) -> Result<Vec<String>> {
        let table = self.table(USAGE)?;
        let range = table
            .range::<&str>(..)
            .map_err(failed("listing the tenants"))?;
        let mut tenants = Vec::new();
        for entry in range {
            let (tenant, usage) = entry.map_err(failed("listing the tenants"))?;
            if usage.value().0 > 0 {
                tenants.push(tenant.value().to_owned());
            }
        }
        Ok(tenants)
    }

    fn commit(&self, sets: &[WriteSet]) -> Result<Vec<Result<()>>> {
        let tx = self.write()?;
        let outcomes = write::apply(&tx, &self.indexes, sets)?;
        self.finish(tx, Durability::None)?;
        Ok(outcomes)
    }

    fn unique(&self, type_name: &str, value: &str) -> Result<Option<(String, String)>> {
        let table = self.table(UNIQUE)?;
        let key = write::unique_key(type_name, value);
        let found = table
            .get(key.as_str())
            .map_err(failed("reading a unique value"))?;
        let Some(owner) = found else {
            return Ok(None);
        };
        let (tenant, id) = (owner.value().split_once('\0'))
            .ok_or_else(|| Error::Corrupt(format!("unique value owner {:?}", owner.value())))?;
        Ok(Some((tenant.to_owned(), id.to_owned())))
    }

    fn set_status(&self, tenant: &str, id: &str, fields: &Object) -> Result<Option<String>> {
        let tx = self.write()?;
        let type_name = write::set_status(&tx, tenant, id, fields)?;
        self.finish(tx, Durability::None)?;
        Ok(type_name)
    }

    fn create_index(&self, tenant: &str, type_name: &str, property: &str) -> Result<Option<usize>> {
        let scoped_type = scoped(tenant, type_name);
        if self.indexes.is_ready(&scoped_type, property) {
            return Ok(None);
        }
        // Declared first: writes that commit from now on keep their entries themselves, and
        // what an earlier, interrupted build left behind is cleared.
        self.indexes.set(&scoped_type, property, false);
        let tx = self.write()?;
        write::clear(&tx, &index::head(&scoped_type, property))?;
        self.finish(tx, Durability::None)?;
        let mut from = type_prefix(&scoped_type);
        let mut indexed = 0;
        loop {
            let tx = self.write()?;
            let chunk = write::index_chunk(&tx, &scoped_type, property, &from, INDEX_CHUNK)?;
            indexed += chunk.indexed;
            let Some(next) = chunk.next else {
                let definition = index::definition(&scoped_type, property);
                let doing = "declaring an index";
                let mut table = tx.open_table(INDEXES).map_err(failed(doing))?;
                (table.insert(utf8(&definition)?, ())).map_err(failed(doing))?;
                drop(table);
                self.finish(tx, Durability::Immediate)?;
                break;
            };
            self.finish(tx, Durability::None)?;
            from = next;
        }
        self.indexes.set(&scoped_type, property, true);
        Ok(Some(indexed))
    }

    fn drop_index(&self, tenant: &str, type_name: &str, property: &str) -> Result<bool> {
        let scoped_type = scoped(tenant, type_name);
        if !self.indexes.forget(&scoped_type, property) {
            return Ok(false);
        }
        let tx = self.write()?;
        let definition = index::definition(&scoped_type, property);
        {
            let mut table = tx
                .open_table(INDEXES)
                .map_err(failed("removing an index"))?;
            (table.remove(utf8(&definition)?)).map_err(failed("removing an index"))?;
        }
        write::clear(&tx, &index::head(&scoped_type, property))?;
        self.finish(tx, Durability::Immediate)?;
        Ok(true)
    }

    fn indexes(&self, tenant: &str) -> Vec<(String, String)> {
        self.indexes.all(&scope(tenant))
    }

    fn remove_tenant(&self, tenant: &str) -> Result<()> {
        let scope = scope(tenant);
        let tx = self.write()?;
        write::remove_tenant(&tx, tenant, scope.as_bytes())?;
        self.finish(tx, Durability::Immediate)?;
        self.indexes.forget_scope(&scope);
        Ok(())
    }

    fn flush(&self) -> Result<()> {
        // An empty commit that syncs makes every commit before it durable.
        self.finish(self.write()?, Durability::Immediate)
    }

    fn space_get(&self, space: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.read_space(space, key)
    }

    fn space_list(&self, space: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.list_space(space, prefix)
    }

    fn space_write(&self, space: &str, entries: &[(&str, Option<&[u8]>)]) -> Result<()> {
        self.write_space(space, entries)
    }

    fn queue_push(&self, queue: &str, due_ms: u64, record: &[u8]) -> Result<()> {
        self.push_queued(queue, due_ms, record)
    }

    fn queue_first(&self, queue: &str) -> Result<Option<Queued>> {
        self.first_queued(queue)
    }

    fn queue_remove(&self, queue: &str, key: &[u8]) -> Result<()> {
        self.remove_queued(queue, key)
    }
}
