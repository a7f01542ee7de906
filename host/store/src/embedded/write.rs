//! Writes inside one redb transaction: write sets checked against the versions they read and
//! their tenant's quota, applied with their index entries and usage counts; host status set in
//! place; index maintenance; a tenant removed.

use super::index::{self, Catalogue};
use super::{
    BY_TYPE, ENTRIES, INDEXES, OBJECTS, UNIQUE, USAGE, after, failed, scoped, stored, type_key,
    unstored, utf8,
};
use crate::backend::{Write, WriteSet};
use crate::checks::{self, Claim};
use crate::{Error, Object, Result, Usage, props, record};
use ::redb::{ReadableTable, Table, WriteTransaction};

type Objects<'t> = Table<'t, &'static str, &'static [u8]>;
type Keys<'t> = Table<'t, &'static [u8], ()>;

/// The tables a write touches.
struct Tables<'t> {
    objects: Objects<'t>,
    by_type: Keys<'t>,
    entries: Keys<'t>,
    usage: Table<'t, &'static str, (u64, u64)>,
    unique: Table<'t, &'static str, &'static str>,
}

/// An object as it is stored, with the size its JSON counts for.
struct Stored {
    object: Object,
    bytes: u64,
}

impl<'t> Tables<'t> {
    fn open(tx: &'t WriteTransaction) -> Result<Tables<'t>> {
        let doing = "opening the tables to write";
        Ok(Tables {
            objects: tx.open_table(OBJECTS).map_err(failed(doing))?,
            by_type: tx.open_table(BY_TYPE).map_err(failed(doing))?,
            entries: tx.open_table(ENTRIES).map_err(failed(doing))?,
            usage: tx.open_table(USAGE).map_err(failed(doing))?,
            unique: tx.open_table(UNIQUE).map_err(failed(doing))?,
        })
    }

    /// `tenant`'s object `id`; another tenant's is not there.
    fn stored(&self, tenant: &str, id: &str) -> Result<Option<Stored>> {
        let Some(bytes) = self.objects.get(id).map_err(failed("reading an object"))? else {
            return Ok(None);
        };
        let (owner, json) = unstored(bytes.value())?;
        if owner != tenant {
            return Ok(None);
        }
        Ok(Some(Stored {
            object: record::decode(json)?,
            bytes: json.len() as u64,
        }))
    }

    fn put(&mut self, tenant: &str, id: &str, json: &[u8]) -> Result<()> {
        let bytes = stored(tenant, json);
        (self.objects.insert(id, bytes.as_slice())).map_err(failed("writing an object"))?;
        Ok(())
    }

    fn key(&mut self, which: Which, key: &[u8], present: bool) -> Result<()> {
        let table = match which {
            Which::ByType => &mut self.by_type,
            Which::Entries => &mut self.entries,
        };
        match present {
            true => table.insert(key, ()).map(drop),
            false => table.remove(key).map(drop),
        }
        .map_err(failed("writing an index"))
    }

    /// Moves an object's unique value from what was stored to what is written.
    fn claim(&mut self, tenant: &str, write: &Write, claim: &Claim) -> Result<()> {
        let doing = "writing a unique value";
        if let Some(before) = &claim.before {
            let key = unique_key(&write.type_name, before);
            let owner = checks::owner(tenant, &write.id);
            let ours = (self.unique.get(key.as_str()).map_err(failed(doing))?)
                .is_some_and(|found| found.value() == owner);
            if ours {
                self.unique.remove(key.as_str()).map_err(failed(doing))?;
            }
        }
        if let Some(after) = &claim.after {
            let key = unique_key(&write.type_name, after);
            let owner = checks::owner(tenant, &write.id);
            (self.unique.insert(key.as_str(), owner.as_str())).map_err(failed(doing))?;
        }
        Ok(())
    }

    fn usage(&self, tenant: &str) -> Result<Usage> {
        let found = self
            .usage
            .get(tenant)
            .map_err(failed("reading the usage"))?;
        let (objects, bytes) = found.map_or((0, 0), |usage| usage.value());
        Ok(Usage { objects, bytes })
    }

    fn count(&mut self, tenant: &str, objects: i64, bytes: i64) -> Result<()> {
        if (objects, bytes) == (0, 0) {
            return Ok(());
        }
        let now = self.usage(tenant)?;
        let add = |n: u64, delta: i64| n.saturating_add_signed(delta);
        let usage = (add(now.objects, objects), add(now.bytes, bytes));
        (self.usage.insert(tenant, usage)).map_err(failed("counting the usage"))?;
        Ok(())
    }

    /// Moves an object's index entries from what was stored to what is written.
    fn reindex(
        &mut self,
        scoped_type: &str,
        write: &Write,
        indexed: &[String],
        stored: Option<&Object>,
        written: Option<&Object>,
    ) -> Result<()> {
        for property in indexed {
            let entry = |object: &Object| index::entry(scoped_type, property, object, &write.id);
            let (old, new) = (stored.map(entry), written.map(entry));
            if old == new {
                continue;
            }
            if let Some(old) = old {
                self.key(Which::Entries, &old, false)?;
            }
            if let Some(new) = new {
                self.key(Which::Entries, &new, true)?;
            }
        }
        Ok(())
    }
}

/// The key of a unique property's value in `unique-values`.
pub(super) fn unique_key(type_name: &str, value: &str) -> String {
    format!("{type_name}\0{value}")
}

#[derive(Clone, Copy)]
enum Which {
    ByType,
    Entries,
}

/// Applies write sets in order; each fails alone on a conflict or over its quota.
pub(super) fn apply(
    tx: &WriteTransaction,
    catalogue: &Catalogue,
    sets: &[WriteSet],
) -> Result<Vec<Result<()>>> {
    let mut tables = Tables::open(tx)?;
    let mut outcomes = Vec::with_capacity(sets.len());
    for set in sets {
        // Every check before any write, so a set that fails leaves nothing behind.
        let checked = match check_set(&tables, set) {
            Ok(stored) => stored,
            Err(e @ (Error::Conflict(_) | Error::Quota(_) | Error::Taken(_))) => {
                outcomes.push(Err(e));
                continue;
            }
            Err(e) => return Err(e),
        };
        let (mut objects, mut bytes) = (0, 0);
        for (write, stored) in set.writes.iter().zip(checked) {
            if let Some(claim) = Claim::of(write, stored.as_ref().map(|s| &s.object))? {
                tables.claim(set.tenant, write, &claim)?;
            }
            let scoped_type = scoped(set.tenant, &write.type_name);
            let indexed = catalogue.of(&scoped_type);
            let written = apply_one(
                &mut tables,
                set.tenant,
                &scoped_type,
                write,
                &indexed,
                &stored,
            )?;
            objects += i64::from(written.is_some()) - i64::from(stored.is_some());
            bytes += written.unwrap_or(0) as i64 - stored.map_or(0, |s| s.bytes) as i64;
        }
        tables.count(set.tenant, objects, bytes)?;
        outcomes.push(Ok(()));
    }
    Ok(outcomes)
}

/// What each write of a set replaces, after checking versions, unique values and the
/// tenant's quota.
fn check_set(tables: &Tables, set: &WriteSet) -> Result<Vec<Option<Stored>>> {
    let stored = (set.writes.iter())
        .map(|write| check(tables, set.tenant, write))
        .collect::<Result<Vec<_>>>()?;
    let mut claims = Vec::new();
    for (write, stored) in set.writes.iter().zip(&stored) {
        if let Some(claim) = Claim::of(write, stored.as_ref().map(|s| &s.object))? {
            claims.push((write, claim));
        }
    }
    checks::claims(set.tenant, &claims, |type_name, value| {
        let key = unique_key(type_name, value);
        let holder = (tables.unique.get(key.as_str())).map_err(failed("reading a unique value"))?;
        Ok(holder.map(|holder| holder.value().to_owned()))
    })?;
    let (objects, bytes) = checks::growth(
        set.writes,
        stored.iter().map(|s| s.as_ref().map(|s| s.bytes)),
    );
    let usage = tables.usage(set.tenant)?;
    checks::within_quota(set.tenant, &usage, set.quota, objects, bytes)?;
    Ok(stored)
}

/// The stored object a write replaces, if it replaces one, after checking that it is still
/// the version the write was based on.
fn check(tables: &Tables, tenant: &str, write: &Write) -> Result<Option<Stored>> {
    if !write.existed {
        return Ok(None);
    }
    let stored = tables.stored(tenant, &write.id)?;
    checks::based_on(write, stored.as_ref().map(|s| &s.object))?;
    Ok(stored)
}

/// Applies one write over what it replaces; the size of what it wrote, if it wrote an object.
fn apply_one(
    tables: &mut Tables,
    tenant: &str,
    scoped_type: &str,
    write: &Write,
    indexed: &[String],
    stored: &Option<Stored>,
) -> Result<Option<u64>> {
    let type_key = type_key(scoped_type, &write.id);
    let Some(stored) = stored else {
        let Some(bytes) = &write.bytes else {
            return Ok(None);
        };
        tables.put(tenant, &write.id, bytes)?;
        tables.key(Which::ByType, &type_key, true)?;
        if !indexed.is_empty() {
            let written = record::decode(bytes)?;
            tables.reindex(scoped_type, write, indexed, None, Some(&written))?;
        }
        return Ok(Some(bytes.len() as u64));
    };
    let (written, size) = match &write.bytes {
        Some(bytes) if write.keeps_status => {
            let mut object = record::decode(bytes)?;
            props::carry_status(&mut object, &stored.object);
            let json = record::encode(&object)?;
            tables.put(tenant, &write.id, &json)?;
            (Some(object), Some(json.len() as u64))
        }
        Some(bytes) => {
            tables.put(tenant, &write.id, bytes)?;
            let written = (!indexed.is_empty())
                .then(|| record::decode(bytes))
                .transpose()?;
            (written, Some(bytes.len() as u64))
        }
        None => {
            (tables.objects.remove(write.id.as_str())).map_err(failed("deleting an object"))?;
            tables.key(Which::ByType, &type_key, false)?;
            (None, None)
        }
    };
    if !indexed.is_empty() {
        tables.reindex(
            scoped_type,
            write,
            indexed,
            Some(&stored.object),
            written.as_ref(),
        )?;
    }
    Ok(size)
}

/// Sets host-maintained properties of `tenant`'s object `id`; its type, or `None` if it is
/// gone.
pub(super) fn set_status(
    tx: &WriteTransaction,
    tenant: &str,
    id: &str,
    fields: &Object,
) -> Result<Option<String>> {
    let mut tables = Tables::open(tx)?;
    let Some(Stored { mut object, bytes }) = tables.stored(tenant, id)? else {
        return Ok(None);
    };
    props::set_status(&mut object, fields);
    let json = record::encode(&object)?;
    tables.put(tenant, id, &json)?;
    tables.count(tenant, 0, json.len() as i64 - bytes as i64)?;
    Ok(Some(record::type_of(&object).to_owned()))
}

/// Removes every entry of the index starting with `head`.
pub(super) fn clear(tx: &WriteTransaction, head: &[u8]) -> Result<()> {
    let mut entries = tx
        .open_table(ENTRIES)
        .map_err(failed("clearing an index"))?;
    let end = after(head);
    (entries.retain_in::<&[u8], _>(head..end.as_slice(), |_, _| false))
        .map_err(failed("clearing an index"))
}

/// Removes every object, index entry, index and the usage count of `tenant`, whose keys start
/// with `scope`.
pub(super) fn remove_tenant(tx: &WriteTransaction, tenant: &str, scope: &[u8]) -> Result<()> {
    let doing = "removing a tenant";
    let mut tables = Tables::open(tx)?;
    let end = after(scope);
    let mut ids = Vec::new();
    {
        let range =
            (tables.by_type.range::<&[u8]>(scope..end.as_slice())).map_err(failed(doing))?;
        for entry in range {
            let (key, _) = entry.map_err(failed(doing))?;
            let key = key.value();
            let slash = key.iter().rposition(|&b| b == b'/').unwrap_or(key.len());
            ids.push(utf8(&key[slash + 1..])?.to_owned());
        }
    }
    for id in &ids {
        (tables.objects.remove(id.as_str())).map_err(failed(doing))?;
    }
    (tables
        .by_type
        .retain_in::<&[u8], _>(scope..end.as_slice(), |_, _| false))
    .map_err(failed(doing))?;
    (tables
        .entries
        .retain_in::<&[u8], _>(scope..end.as_slice(), |_, _| false))
    .map_err(failed(doing))?;
    (tables.usage.remove(tenant)).map_err(failed(doing))?;
    (tables
        .unique
        .retain(|_, owner| !owner.starts_with(utf8(scope).unwrap_or("\0"))))
    .map_err(failed(doing))?;
    let mut indexes = tx.open_table(INDEXES).map_err(failed(doing))?;
    let scope = utf8(scope)?;
    let end = format!("{scope}\u{10FFFF}");
    (indexes.retain_in::<&str, _>(scope..end.as_str(), |_, _| false)).map_err(failed(doing))
}

/// What [`index_chunk`] did.
pub(super) struct Chunk {
    pub indexed: usize,
    /// The key of `objects-by-type` to go on from; `None` at the end of the type.
    pub next: Option<Vec<u8>>,
}

/// Indexes up to `chunk` objects of the scoped type from the key `from` of `objects-by-type`.
pub(super) fn index_chunk(
    tx: &WriteTransaction,
    scoped_type: &str,
    property: &str,
    from: &[u8],
    chunk: usize,
) -> Result<Chunk> {
    let mut tables = Tables::open(tx)?;
    let prefix = type_key(scoped_type, "");
    let tenant = scoped_type.split('\0').next().unwrap_or_default();
    let mut keys = Vec::with_capacity(chunk + 1);
    {
        let range = (tables.by_type.range::<&[u8]>(from..)).map_err(failed("building an index"))?;
        for entry in range {
            let (key, _) = entry.map_err(failed("building an index"))?;
            if !key.value().starts_with(&prefix) || keys.len() > chunk {
                break;
            }
            keys.push(key.value().to_vec());
        }
    }
    let next = (keys.len() > chunk).then(|| keys.pop()).flatten();
    let mut indexed = 0;
    for key in &keys {
        let id = utf8(&key[prefix.len()..])?;
        let Some(stored) = tables.stored(tenant, id)? else {
            continue;
        };
        let entry = index::entry(scoped_type, property, &stored.object, id);
        tables.key(Which::Entries, &entry, true)?;
        indexed += 1;
    }
    Ok(Chunk { indexed, next })
}
