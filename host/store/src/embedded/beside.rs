//! What the embedded engine keeps beside the objects: the key-value spaces (`<space>\0<key>` →
//! bytes, written durably) and the durable queues (`<queue>\0<due ms><uuid>` → record, durable
//! with the next flush, like commits).

use super::{Embedded, QUEUES, SPACES, after, failed};
use crate::{Error, Queued, Result};
use ::redb::Durability;

pub(super) fn space_key(space: &str, key: &str) -> String {
    format!("{space}\0{key}")
}

pub(super) fn queue_prefix(queue: &str) -> Vec<u8> {
    [queue.as_bytes(), b"\0"].concat()
}

impl Embedded {
    pub(super) fn read_space(&self, space: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let table = self.table(SPACES)?;
        let value =
            (table.get(space_key(space, key).as_str())).map_err(failed("reading a setting"))?;
        Ok(value.map(|value| value.value().to_vec()))
    }

    pub(super) fn list_space(&self, space: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
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

    pub(super) fn write_space(&self, space: &str, entries: &[(&str, Option<&[u8]>)]) -> Result<()> {
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

    pub(super) fn push_queued(&self, queue: &str, due_ms: u64, record: &[u8]) -> Result<()> {
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

    pub(super) fn first_queued(&self, queue: &str) -> Result<Option<Queued>> {
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

    pub(super) fn remove_queued(&self, queue: &str, key: &[u8]) -> Result<()> {
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
