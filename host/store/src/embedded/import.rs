//! Data directories of the versions that kept everything in sled are imported the first time
//! this version opens them, so an upgrade needs no step of its own.
//!
//! sled's `objects` tree held `o/<id>` → the object (beside its own index keys, which are
//! rebuilt here), `object-indexes` the declared indexes as `<type>\0<property>`, `plugins` the
//! uploads (`meta/<name>`, `wasm/<name>`, and compiled artifacts, which are left behind and
//! compiled again), `settings` the token hash, and `retries` the retry queue keyed by due time.
//! They become the objects and indexes of the default tenant, the `plugins` and `settings`
//! spaces and the `retries` queue. sled's files stay where they are, untouched, until the operator removes them.

use super::beside::{queue_prefix, space_key};
use super::{Embedded, QUEUES, SPACES, failed, write};
use crate::backend::{Write, WriteSet};
use crate::{DEFAULT_TENANT, Result, record};
use ::redb::Durability;
use std::path::Path;

/// Objects copied per transaction.
const CHUNK: usize = 10_000;

/// Imports the sled database in `dir`, if there is one, into `embedded` (empty).
pub(super) fn from_sled(dir: &Path, embedded: &Embedded) -> Result<()> {
    if !dir.join("conf").is_file() || !dir.join("db").is_file() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let doing = "importing the sled database";
    let db = sled::Config::new()
        .path(dir)
        .open()
        .map_err(failed(doing))?;
    let tree = |name: &str| db.open_tree(name).map_err(failed(doing));

    let mut objects = 0;
    let mut batch = Vec::with_capacity(CHUNK);
    for entry in tree("objects")?.scan_prefix(b"o/") {
        let (_, bytes) = entry.map_err(failed(doing))?;
        batch.push(bytes);
        if batch.len() == CHUNK {
            objects += copy_objects(embedded, &std::mem::take(&mut batch))?;
        }
    }
    objects += copy_objects(embedded, &batch)?;

    let tx = embedded.write()?;
    {
        let mut spaces = tx.open_table(SPACES).map_err(failed(doing))?;
        for space in ["plugins", "settings"] {
            for entry in tree(space)?.iter() {
                let (key, value) = entry.map_err(failed(doing))?;
                let key = String::from_utf8_lossy(&key);
                if !key.starts_with("aot/") {
                    let key = space_key(space, &key);
                    (spaces.insert(key.as_str(), value.as_ref())).map_err(failed(doing))?;
                }
            }
        }
        let mut queues = tx.open_table(QUEUES).map_err(failed(doing))?;
        for entry in tree("retries")?.iter() {
            let (key, value) = entry.map_err(failed(doing))?;
            let key = [queue_prefix("retries").as_slice(), &key].concat();
            (queues.insert(key.as_slice(), value.as_ref())).map_err(failed(doing))?;
        }
    }
    embedded.finish(tx, Durability::Immediate)?;

    let mut indexes = Vec::new();
    for key in tree("object-indexes")?.iter().keys() {
        indexes.push(super::index::split_definition(
            &key.map_err(failed(doing))?,
        )?);
    }
    for (type_name, property) in &indexes {
        crate::backend::Backend::create_index(embedded, DEFAULT_TENANT, type_name, property)?;
    }
    tracing::info!(
        objects,
        indexes = indexes.len(),
        "imported the sled database in {} in {:.1?}; its files (conf, db, snap.*) are no longer \
         used and can be removed",
        dir.display(),
        started.elapsed()
    );
    Ok(())
}

/// Copies encoded objects in one transaction, into the default tenant; how many.
fn copy_objects(embedded: &Embedded, batch: &[sled::IVec]) -> Result<usize> {
    let mut writes = Vec::with_capacity(batch.len());
    for bytes in batch {
        let object = record::decode(bytes)?;
        writes.push(Write {
            id: record::id_of(&object).to_owned(),
            type_name: record::type_of(&object).to_owned(),
            existed: false,
            base: 0,
            bytes: Some(bytes.to_vec()),
            keeps_status: false,
            unique: None,
        });
    }
    let set = WriteSet {
        tenant: DEFAULT_TENANT,
        writes: &writes,
        quota: Default::default(),
    };
    let tx = embedded.write()?;
    for outcome in write::apply(&tx, &embedded.indexes, &[set])? {
        outcome?;
    }
    embedded.finish(tx, Durability::None)?;
    Ok(batch.len())
}
