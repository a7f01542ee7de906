//! Write sets in one PostgreSQL transaction: each checked against the rows it read (locked
//! `FOR UPDATE`, so another instance's concurrent write waits, then sees the new version and
//! conflicts), the unique values it claims and its tenant's quota, then applied; a set that
//! fails its checks is rolled back to its savepoint alone. Creations that need no check
//! (the common case: a callback's new objects) are gathered and inserted in one statement.
//! Usage counts are added up per tenant and written once per transaction. The statements of
//! this path are prepared once per connection ([`Hot`]).

use super::pool::Connection;
use crate::backend::{Write, WriteSet};
use crate::checks::{self, Claim};
use crate::{Error, Object, Result, StorageQuota, Usage, props, record};
use postgres::error::SqlState;
use postgres::{GenericClient, Statement, ToStatement, Transaction};
use std::collections::HashMap;

fn failed(doing: &'static str) -> impl Fn(postgres::Error) -> Error {
    move |e| Error::storage(doing, e)
}

/// Inserts objects given as arrays of their columns.
const INSERT_MANY: &str = "INSERT INTO objects (id, tenant, type, doc, size, search) \
    SELECT id, tenant, type, doc, size, search::jsonb \
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[]) \
    AS new (id, tenant, type, doc, size, search)";

/// Adds to a tenant's usage.
const COUNT: &str = "INSERT INTO usage VALUES ($1, $2, $3) ON CONFLICT (tenant) DO UPDATE \
    SET objects = usage.objects + $2, bytes = usage.bytes + $3";

/// The statements every commit runs, prepared on its connection.
pub(super) struct Hot {
    insert_many: Statement,
    count: Statement,
    pub notify: Statement,
}

impl Hot {
    pub(super) fn prepare(connection: &mut Connection) -> Result<Hot> {
        Ok(Hot {
            insert_many: connection.statement(INSERT_MANY)?,
            count: connection.statement(COUNT)?,
            notify: connection.statement(super::changes::NOTIFY)?,
        })
    }
}

/// New objects waiting to be inserted together, column by column.
#[derive(Default)]
struct Creations<'a> {
    ids: Vec<&'a str>,
    tenants: Vec<&'a str>,
    types: Vec<&'a str>,
    docs: Vec<&'a str>,
    sizes: Vec<i64>,
    searches: Vec<Option<String>>,
}

impl<'a> Creations<'a> {
    /// Adds `write`'s object; the objects and bytes it adds.
    fn add(&mut self, tenant: &'a str, write: &'a Write) -> Result<(i64, i64)> {
        let Some(json) = &write.bytes else {
            return Ok((0, 0));
        };
        self.ids.push(&write.id);
        self.tenants.push(tenant);
        self.types.push(&write.type_name);
        self.docs.push(text(json)?);
        self.sizes.push(json.len() as i64);
        self.searches.push(super::index::searchable(json));
        Ok((1, json.len() as i64))
    }

    /// Inserts what was added, in one statement.
    fn insert(&mut self, tx: &mut Transaction, statement: &Statement) -> Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        let this = std::mem::take(self);
        let params: [&(dyn postgres::types::ToSql + Sync); 6] = [
            &this.ids,
            &this.tenants,
            &this.types,
            &this.docs,
            &this.sizes,
            &this.searches,
        ];
        (tx.execute(statement, &params)).map_err(failed("writing objects"))?;
        Ok(())
    }
}

/// An object as stored, locked for the rest of the transaction.
struct Stored {
    object: Object,
    bytes: u64,
}

/// Usage of the tenants a transaction writes: what was stored when first read, and what the
/// transaction's sets add.
#[derive(Default)]
struct Counts {
    tenants: HashMap<String, (Option<Usage>, i64, i64)>,
}

impl Counts {
    /// `tenant`'s usage as it will be with what this transaction added so far; read (and
    /// locked) once.
    fn usage(&mut self, tx: &mut Transaction, tenant: &str) -> Result<Usage> {
        let entry = self.tenants.entry(tenant.to_owned()).or_default();
        let stored = match entry.0 {
            Some(usage) => usage,
            None => {
                let sql = "SELECT objects, bytes FROM usage WHERE tenant = $1 FOR UPDATE";
                let row = tx
                    .query_opt(sql, &[&tenant])
                    .map_err(failed("reading the usage"))?;
                let usage = row.map_or(Usage::default(), |row| Usage {
                    objects: row.get::<_, i64>(0) as u64,
                    bytes: row.get::<_, i64>(1) as u64,
                });
                *entry.0.insert(usage)
            }
        };
        Ok(Usage {
            objects: stored.objects.saturating_add_signed(entry.1),
            bytes: stored.bytes.saturating_add_signed(entry.2),
        })
    }

    /// Refuses a set that would take its tenant over its quota; reads the usage only for a
    /// tenant that has one.
    fn check(&mut self, tx: &mut Transaction, set: &WriteSet, added: (i64, i64)) -> Result<()> {
        if set.quota == StorageQuota::default() {
            return Ok(());
        }
        let usage = self.usage(tx, set.tenant)?;
        checks::within_quota(set.tenant, &usage, set.quota, added.0, added.1)
    }

    fn add(&mut self, tenant: &str, objects: i64, bytes: i64) {
        let entry = self.tenants.entry(tenant.to_owned()).or_default();
        (entry.1, entry.2) = (entry.1 + objects, entry.2 + bytes);
    }

    fn write(self, tx: &mut Transaction, statement: &Statement) -> Result<()> {
        for (tenant, (_, objects, bytes)) in self.tenants {
            if (objects, bytes) != (0, 0) {
                count(tx, statement, &tenant, objects, bytes)?;
            }
        }
        Ok(())
    }
}

/// Adds to `tenant`'s usage.
fn count(
    client: &mut impl GenericClient,
    statement: &(impl ToStatement + ?Sized),
    tenant: &str,
    objects: i64,
    bytes: i64,
) -> Result<()> {
    (client.execute(statement, &[&tenant, &objects, &bytes]))
        .map_err(failed("counting the usage"))?;
    Ok(())
}

/// Applies write sets in order; each fails alone on a conflict, a taken value or over its
/// quota.
pub(super) fn apply(tx: &mut Transaction, sets: &[WriteSet], hot: &Hot) -> Result<Vec<Result<()>>> {
    let mut counts = Counts::default();
    let mut outcomes = Vec::with_capacity(sets.len());
    let mut creations = Creations::default();
    for set in sets {
        // A set of creations without unique values cannot fail its checks past its quota: no
        // savepoint, and its objects wait to be inserted with the others'.
        let simple = set.writes.iter().all(|w| !w.existed && w.unique.is_none());
        if simple {
            let growth = checks::growth(set.writes, set.writes.iter().map(|_| None));
            if let Err(e) = counts.check(tx, set, growth) {
                outcomes.push(Err(e));
                continue;
            }
            for write in set.writes {
                creations.add(set.tenant, write)?;
            }
            counts.add(set.tenant, growth.0, growth.1);
            outcomes.push(Ok(()));
            continue;
        }
        // A set that reads sees the sets before it.
        creations.insert(tx, &hot.insert_many)?;
        let mut savepoint = tx
            .savepoint("set")
            .map_err(failed("starting a write set"))?;
        match apply_set(&mut savepoint, &mut counts, set) {
            Ok((objects, bytes)) => {
                savepoint.commit().map_err(failed("ending a write set"))?;
                counts.add(set.tenant, objects, bytes);
                outcomes.push(Ok(()));
            }
            Err(e @ (Error::Conflict(_) | Error::Quota(_) | Error::Taken(_))) => {
                savepoint
                    .rollback()
                    .map_err(failed("undoing a write set"))?;
                outcomes.push(Err(e));
            }
            Err(e) => return Err(e),
        }
    }
    creations.insert(tx, &hot.insert_many)?;
    counts.write(tx, &hot.count)?;
    Ok(outcomes)
}

/// Checks and applies one set inside its savepoint; what it adds to its tenant's usage.
fn apply_set(tx: &mut Transaction, counts: &mut Counts, set: &WriteSet) -> Result<(i64, i64)> {
    let mut stored = Vec::with_capacity(set.writes.len());
    for write in set.writes {
        let found = match write.existed {
            true => {
                let found = locked(tx, set.tenant, &write.id)?;
                checks::based_on(write, found.as_ref().map(|s| &s.object))?;
                found
            }
            false => None,
        };
        stored.push(found);
    }
    let mut claims = Vec::new();
    for (write, stored) in set.writes.iter().zip(&stored) {
        if let Some(claim) = Claim::of(write, stored.as_ref().map(|s| &s.object))? {
            claims.push((write, claim));
        }
    }
    checks::claims(set.tenant, &claims, |type_name, value| {
        holder(tx, type_name, value)
    })?;
    let growth = checks::growth(
        set.writes,
        stored.iter().map(|s| s.as_ref().map(|s| s.bytes)),
    );
    counts.check(tx, set, growth)?;

    // Values given up first, so a value one write gives up another may take.
    for (write, claim) in &claims {
        if let Some(before) = &claim.before {
            let sql = "DELETE FROM unique_values \
                       WHERE type = $1 AND value = $2 AND tenant = $3 AND id = $4";
            let params: [&(dyn postgres::types::ToSql + Sync); 4] =
                [&write.type_name, before, &set.tenant, &write.id];
            tx.execute(sql, &params)
                .map_err(failed("writing a unique value"))?;
        }
    }
    for (write, claim) in &claims {
        if let Some(after) = &claim.after {
            let sql = "INSERT INTO unique_values VALUES ($1, $2, $3, $4)";
            let params: [&(dyn postgres::types::ToSql + Sync); 4] =
                [&write.type_name, after, &set.tenant, &write.id];
            match tx.execute(sql, &params) {
                Ok(_) => {}
                // Another instance took it since we looked.
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    return Err(checks::taken_error(write, claim.property, after));
                }
                Err(e) => return Err(Error::storage("writing a unique value", e)),
            }
        }
    }
    let mut added = (0, 0);
    for (write, stored) in set.writes.iter().zip(stored) {
        let delta = put(tx, set.tenant, write, stored.as_ref())?;
        added = (added.0 + delta.0, added.1 + delta.1);
    }
    Ok(added)
}

/// `tenant`'s object `id`, locked until the transaction ends; another tenant's is not there.
fn locked(tx: &mut Transaction, tenant: &str, id: &str) -> Result<Option<Stored>> {
    let sql = "SELECT doc FROM objects WHERE id = $1 AND tenant = $2 FOR UPDATE";
    let row = tx
        .query_opt(sql, &[&id, &tenant])
        .map_err(failed("reading an object"))?;
    let Some(row) = row else { return Ok(None) };
    let doc: &str = row.get(0);
    Ok(Some(Stored {
        object: record::decode(doc.as_bytes())?,
        bytes: doc.len() as u64,
    }))
}

/// Who holds a unique value of `type_name`, as `<tenant>\0<id>`.
fn holder(tx: &mut Transaction, type_name: &str, value: &str) -> Result<Option<String>> {
    let sql = "SELECT tenant, id FROM unique_values WHERE type = $1 AND value = $2";
    let row = tx.query_opt(sql, &[&type_name, &value]);
    let row = row.map_err(failed("reading a unique value"))?;
    Ok(row.map(|row| checks::owner(row.get(0), row.get(1))))
}

/// Writes one object over what it replaces; the objects and bytes it adds.
fn put(
    tx: &mut Transaction,
    tenant: &str,
    write: &Write,
    stored: Option<&Stored>,
) -> Result<(i64, i64)> {
    let replaced = stored.map_or((0, 0), |s| (1, s.bytes as i64));
    let Some(bytes) = &write.bytes else {
        if stored.is_some() {
            let sql = "DELETE FROM objects WHERE id = $1";
            tx.execute(sql, &[&write.id])
                .map_err(failed("deleting an object"))?;
        }
        return Ok((-replaced.0, -replaced.1));
    };
    let carried;
    let json = match stored {
        Some(stored) if write.keeps_status => {
            let mut object = record::decode(bytes)?;
            props::carry_status(&mut object, &stored.object);
            carried = record::encode(&object)?;
            &carried
        }
        _ => bytes,
    };
    let doc = text(json)?;
    let size = json.len() as i64;
    let search = super::index::searchable(json);
    let written = match stored {
        Some(_) => {
            let sql = "UPDATE objects SET doc = $2, size = $3, search = $4::text::jsonb \
                       WHERE id = $1";
            tx.execute(sql, &[&write.id, &doc, &size, &search])
        }
        None => {
            let sql = "INSERT INTO objects (id, tenant, type, doc, size, search) \
                       VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)";
            let params: [&(dyn postgres::types::ToSql + Sync); 6] =
                [&write.id, &tenant, &write.type_name, &doc, &size, &search];
            tx.execute(sql, &params)
        }
    };
    written.map_err(failed("writing an object"))?;
    Ok((1 - replaced.0, size - replaced.1))
}

/// Sets host-maintained properties of `tenant`'s object `id`; its type, or `None` if it is
/// gone.
pub(super) fn set_status(
    tx: &mut Transaction,
    tenant: &str,
    id: &str,
    fields: &Object,
) -> Result<Option<String>> {
    let Some(Stored { mut object, bytes }) = locked(tx, tenant, id)? else {
        return Ok(None);
    };
    props::set_status(&mut object, fields);
    let json = record::encode(&object)?;
    let size = json.len() as i64;
    let search = super::index::searchable(&json);
    let sql = "UPDATE objects SET doc = $2, size = $3, search = $4::text::jsonb WHERE id = $1";
    (tx.execute(sql, &[&id, &text(&json)?, &size, &search]))
        .map_err(failed("writing an object"))?;
    count(tx, COUNT, tenant, 0, size - bytes as i64)?;
    Ok(Some(record::type_of(&object).to_owned()))
}

/// JSON as text, which it always is.
pub(super) fn text(json: &[u8]) -> Result<&str> {
    std::str::from_utf8(json).map_err(|_| Error::Corrupt("an object's JSON is not UTF-8".into()))
}
