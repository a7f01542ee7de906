//! Data directories of the versions that kept everything in sled are imported the first time
//! this version opens them, so an upgrade needs no step of its own.
//!
//! sled's `objects` tree held `o/<id>` → the object (beside its own index keys, which are
//! rebuilt here), `object-indexes` the declared indexes as `<type>\0<property>`, `plugins` the
//! uploads (`meta/<name>`, `wasm/<name>`, and compiled artifacts, which are left behind and
//! compiled again), `settings` the token hash, and `retries` the retry queue keyed by due time.
//! They become the objects, the indexes, the `plugins` and `settings` spaces and the `retries`
//! queue. sled's files stay where they are, untouched, until the operator removes them.

use super::{
    BY_TYPE, Embedded, OBJECTS, QUEUES, SPACES, failed, queue_prefix, space_key, type_key,
};
use crate::{Result, record};
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
        crate::backend::Backend::create_index(embedded, type_name, property)?;
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

/// Copies encoded objects in one transaction; how many.
fn copy_objects(embedded: &Embedded, batch: &[sled::IVec]) -> Result<usize> {
    let doing = "importing objects";
    let tx = embedded.write()?;
    {
        let mut objects = tx.open_table(OBJECTS).map_err(failed(doing))?;
        let mut by_type = tx.open_table(BY_TYPE).map_err(failed(doing))?;
        for bytes in batch {
            let object = record::decode(bytes)?;
            let (id, type_name) = (record::id_of(&object), record::type_of(&object));
            (objects.insert(id, bytes.as_ref())).map_err(failed(doing))?;
            (by_type.insert(type_key(type_name, id).as_slice(), ())).map_err(failed(doing))?;
        }
    }
    embedded.finish(tx, Durability::None)?;
    Ok(batch.len())
}
