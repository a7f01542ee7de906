//! Writes inside one redb transaction: write sets checked against the versions they read and
//! applied with their index entries, host status set in place, and index maintenance.

use super::index::{self, Catalogue};
use super::{BY_TYPE, ENTRIES, OBJECTS, after, failed, type_key, utf8};
use crate::backend::Write;
use crate::{Error, Object, Result, props, record};
use ::redb::{ReadableTable, Table, WriteTransaction};

type Objects<'t> = Table<'t, &'static str, &'static [u8]>;
type Keys<'t> = Table<'t, &'static [u8], ()>;

/// The three tables a write touches.
struct Tables<'t> {
    objects: Objects<'t>,
    by_type: Keys<'t>,
    entries: Keys<'t>,
}

impl<'t> Tables<'t> {
    fn open(tx: &'t WriteTransaction) -> Result<Tables<'t>> {
        let doing = "opening the tables to write";
        Ok(Tables {
            objects: tx.open_table(OBJECTS).map_err(failed(doing))?,
            by_type: tx.open_table(BY_TYPE).map_err(failed(doing))?,
            entries: tx.open_table(ENTRIES).map_err(failed(doing))?,
        })
    }

    fn stored(&self, id: &str) -> Result<Option<Object>> {
        let stored = self.objects.get(id).map_err(failed("reading an object"))?;
        stored
            .map(|bytes| record::decode(bytes.value()))
            .transpose()
    }

    fn put(&mut self, id: &str, bytes: &[u8]) -> Result<()> {
        (self.objects.insert(id, bytes)).map_err(failed("writing an object"))?;
        Ok(())
    }

    fn key(&mut self, keys: Which, key: &[u8], present: bool) -> Result<()> {
        let table = match keys {
            Which::ByType => &mut self.by_type,
            Which::Entries => &mut self.entries,
        };
        match present {
            true => table.insert(key, ()).map(drop),
            false => table.remove(key).map(drop),
        }
        .map_err(failed("writing an index"))
    }

    /// Moves an object's index entries from what was stored to what is written.
    fn reindex(
        &mut self,
        write: &Write,
        indexed: &[String],
        stored: Option<&Object>,
        written: Option<&Object>,
    ) -> Result<()> {
        for property in indexed {
            let entry =
                |object: &Object| index::entry(&write.type_name, property, object, &write.id);
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

#[derive(Clone, Copy)]
enum Which {
    ByType,
    Entries,
}

/// Applies write sets in order; each fails alone on a conflict.
pub(super) fn apply(
    tx: &WriteTransaction,
    catalogue: &Catalogue,
    sets: &[&[Write]],
) -> Result<Vec<Result<()>>> {
    let mut tables = Tables::open(tx)?;
    let mut outcomes = Vec::with_capacity(sets.len());
    for set in sets {
        // Every check before any write, so a set that fails leaves nothing behind.
        let mut stored = Vec::with_capacity(set.len());
        let mut conflict = None;
        for write in set.iter() {
            match check(&tables, write) {
                Ok(object) => stored.push(object),
                Err(e @ Error::Conflict(_)) => {
                    conflict = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(conflict) = conflict {
            outcomes.push(Err(conflict));
            continue;
        }
        for (write, stored) in set.iter().zip(stored) {
            let indexed = catalogue.of(&write.type_name);
            apply_one(&mut tables, write, &indexed, stored)?;
        }
        outcomes.push(Ok(()));
    }
    Ok(outcomes)
}

/// The stored object a write replaces, if it replaces one, after checking that it is still
/// the version the write was based on.
fn check(tables: &Tables, write: &Write) -> Result<Option<Object>> {
    if !write.existed {
        return Ok(None);
    }
    let Some(stored) = tables.stored(&write.id)? else {
        return Err(Error::Conflict(format!(
            "{} {} was deleted by another writer; nothing was written",
            write.type_name, write.id
        )));
    };
    let current = props::version_of(&stored);
    if current != write.base {
        return Err(crate::txn::stale(
            &write.type_name,
            &write.id,
            write.base,
            current,
        ));
    }
    Ok(Some(stored))
}

fn apply_one(
    tables: &mut Tables,
    write: &Write,
    indexed: &[String],
    stored: Option<Object>,
) -> Result<()> {
    let type_key = type_key(&write.type_name, &write.id);
    let Some(stored) = stored else {
        if let Some(bytes) = &write.bytes {
            tables.put(&write.id, bytes)?;
            tables.key(Which::ByType, &type_key, true)?;
            if !indexed.is_empty() {
                let written = record::decode(bytes)?;
                tables.reindex(write, indexed, None, Some(&written))?;
            }
        }
        return Ok(());
    };
    let written = match &write.bytes {
        Some(bytes) if write.keeps_status => {
            let mut object = record::decode(bytes)?;
            props::carry_status(&mut object, &stored);
            tables.put(&write.id, &record::encode(&object)?)?;
            Some(object)
        }
        Some(bytes) => {
            tables.put(&write.id, bytes)?;
            (!indexed.is_empty())
                .then(|| record::decode(bytes))
                .transpose()?
        }
        None => {
            (tables.objects.remove(write.id.as_str())).map_err(failed("deleting an object"))?;
            tables.key(Which::ByType, &type_key, false)?;
            None
        }
    };
    if !indexed.is_empty() {
        tables.reindex(write, indexed, Some(&stored), written.as_ref())?;
    }
    Ok(())
}

/// Sets host-maintained properties of `id`; its type, or `None` if it is gone.
pub(super) fn set_status(
    tx: &WriteTransaction,
    id: &str,
    fields: &Object,
) -> Result<Option<String>> {
    let mut tables = Tables::open(tx)?;
    let Some(mut object) = tables.stored(id)? else {
        return Ok(None);
    };
    props::set_status(&mut object, fields);
    tables.put(id, &record::encode(&object)?)?;
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

/// Indexes up to `chunk` objects of `type_name` from the key `from` of `objects-by-type`: how
/// many, and the key to go on from (`None` at the end of the table).
pub(super) fn index_chunk(
    tx: &WriteTransaction,
    type_name: &str,
    property: &str,
    from: &[u8],
    chunk: usize,
) -> Result<(usize, Option<Vec<u8>>)> {
    let mut tables = Tables::open(tx)?;
    let prefix = type_key(type_name, "");
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
    let mut done = 0;
    for key in &keys {
        let id = utf8(&key[prefix.len()..])?;
        let Some(object) = tables.stored(id)? else {
            continue;
        };
        let entry = index::entry(type_name, property, &object, id);
        tables.key(Which::Entries, &entry, true)?;
        done += 1;
    }
    Ok((done, next))
}
