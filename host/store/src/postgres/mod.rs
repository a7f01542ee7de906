//! The shared engine: PostgreSQL, so several Switchyard instances keep one set of objects.
//!
//! Every commit is a PostgreSQL transaction committed with `synchronous_commit` on, so it is
//! durable when it returns and [`Backend::flush`] has nothing left to do. Rows are locked
//! `FOR UPDATE` while a write set is checked, so writers on several instances serialize per
//! object and a stale write conflicts exactly as it does in the embedded engine. Declared
//! indexes are PostgreSQL indexes ([`index`]) that narrow a scan; the store checks what it gets
//! against the whole query, as with the embedded engine. Scans read a type in chunks in id
//! (creation) order, so memory stays bounded. Every change is announced to the other instances
//! ([`changes`]).
//!
//! See [`schema`] for the tables and [`write`] for how write sets are applied.

mod changes;
mod index;
mod pool;
mod schema;
mod write;

use crate::backend::{Backend, Hear, Objects, Write, WriteSet};
use crate::{Error, Filter, Instance, Object, Order, Queued, Result, StorageQuota, Usage, record};
use changes::{Changes, Listener};
use parking_lot::RwLock;
use pool::Pool;
use postgres::types::ToSql;
use postgres::{Client, Config};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Now, in milliseconds since the epoch, by the database's clock: the one clock every instance
/// shares.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Objects read per round trip when scanning a type.
const CHUNK: i64 = 500;

pub(crate) struct Postgres {
    pool: Pool,
    indexes: Arc<Catalogue>,
    /// This instance, in the changes it announces.
    me: Arc<str>,
    /// Where the listener hands other instances' changes.
    hear: Arc<RwLock<Option<Hear>>>,
    /// Tells the listener to stop.
    closing: Arc<AtomicBool>,
}

/// The declared indexes as (tenant, type, property): which filters a scan hands down. Kept
/// current with other instances' declarations by the listener.
#[derive(Default)]
pub(super) struct Catalogue(RwLock<BTreeSet<(String, String, String)>>);

impl Catalogue {
    fn reload(&self, client: &mut Client) -> Result<()> {
        let sql = "SELECT tenant, type, property FROM object_indexes";
        let rows = client
            .query(sql, &[])
            .map_err(failed("reading the indexes"))?;
        *self.0.write() = (rows.iter())
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
        Ok(())
    }

    fn set(&self, tenant: &str, type_name: &str, property: &str, declared: bool) {
        let key = (tenant.to_owned(), type_name.to_owned(), property.to_owned());
        match declared {
            true => self.0.write().insert(key),
            false => self.0.write().remove(&key),
        };
    }

    fn contains(&self, tenant: &str, type_name: &str, property: &str) -> bool {
        let key = (tenant.to_owned(), type_name.to_owned(), property.to_owned());
        self.0.read().contains(&key)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Release);
    }
}

fn failed(doing: &'static str) -> impl Fn(postgres::Error) -> Error {
    move |e| Error::storage(doing, e)
}

type Params = Vec<Box<dyn ToSql + Sync + Send>>;

impl Postgres {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, or libpq's
    /// `key=value` form) as instance `me` and brings its schema up to date.
    pub(crate) fn connect(url: &str, me: &str) -> Result<Postgres> {
        let config: Config = url.parse().map_err(|e| {
            Error::Invalid(format!(
                "the store URL is not a PostgreSQL connection string: {e}"
            ))
        })?;
        let pool = Pool::start(&config)?;
        pool.run(schema::migrate)?;
        let indexes = Arc::new(Catalogue::default());
        let postgres = Postgres {
            pool,
            indexes: indexes.clone(),
            me: Arc::from(me),
            hear: Arc::default(),
            closing: Arc::default(),
        };
        // Listening before the catalogue is read: a declaration in between is heard.
        Listener {
            config,
            me: postgres.me.clone(),
            hear: postgres.hear.clone(),
            catalogue: indexes.clone(),
            closing: postgres.closing.clone(),
        }
        .start()?;
        postgres.pool.run(move |client| indexes.reload(client))?;
        Ok(postgres)
    }

    /// Runs `sql` with `params` and maps each row.
    fn rows<T: Send + 'static>(
        &self,
        doing: &'static str,
        sql: impl Into<String>,
        params: Params,
        map: impl Fn(&postgres::Row) -> Result<T> + Send + 'static,
    ) -> Result<Vec<T>> {
        let sql = sql.into();
        self.pool.run(move |client| {
            let params: Vec<&(dyn ToSql + Sync)> = (params.iter())
                .map(|p| &**p as &(dyn ToSql + Sync))
                .collect();
            let rows = client.query(&sql, &params).map_err(failed(doing))?;
            rows.iter().map(&map).collect()
        })
    }

    /// Runs `sql` with `params`; how many rows it touched.
    fn execute(&self, doing: &'static str, sql: impl Into<String>, params: Params) -> Result<u64> {
        let sql = sql.into();
        self.pool.run(move |client| {
            let params: Vec<&(dyn ToSql + Sync)> = (params.iter())
                .map(|p| &**p as &(dyn ToSql + Sync))
                .collect();
            client.execute(&sql, &params).map_err(failed(doing))
        })
    }
}

/// Where `url` points, without its password: for logs, the banner and errors.
pub(crate) fn location(url: &str) -> String {
    let Ok(config) = url.parse::<Config>() else {
        return "an unreadable PostgreSQL URL".to_owned();
    };
    let hosts = (config.get_hosts().iter())
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or_default();
    let database = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{hosts}:{port}/{database}")
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A type's objects read in chunks, in id order.
struct Scan<'a> {
    postgres: &'a Postgres,
    sql: String,
    params: std::sync::Arc<Params>,
    after: String,
    chunk: VecDeque<Object>,
    done: bool,
}

impl Scan<'_> {
    fn next_chunk(&mut self) -> Result<()> {
        let (sql, params, after) = (self.sql.clone(), self.params.clone(), self.after.clone());
        let rows = self.postgres.pool.run(move |client| {
            let mut all: Vec<&(dyn ToSql + Sync)> = vec![&after, &CHUNK];
            all.extend(params.iter().map(|p| &**p as &(dyn ToSql + Sync)));
            let rows = client
                .query(&sql, &all)
                .map_err(failed("reading objects"))?;
            (rows.iter())
                .map(|row| {
                    Ok((
                        row.get::<_, String>(0),
                        record::decode(row.get::<_, &str>(1).as_bytes())?,
                    ))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        self.done = (rows.len() as i64) < CHUNK;
        if let Some((id, _)) = rows.last() {
            self.after = id.clone();
        }
        self.chunk
            .extend(rows.into_iter().map(|(_, object)| object));
        Ok(())
    }
}

impl Iterator for Scan<'_> {
    type Item = Result<Object>;

    fn next(&mut self) -> Option<Result<Object>> {
        if self.chunk.is_empty()
            && !self.done
            && let Err(e) = self.next_chunk()
        {
            self.done = true;
            return Some(Err(e));
        }
        self.chunk.pop_front().map(Ok)
    }
}

impl Backend for Postgres {
    fn load(&self, id: &str) -> Result<Option<(String, Object)>> {
        let sql = "SELECT tenant, doc FROM objects WHERE id = $1";
        let mut rows = self.rows(
            "reading an object",
            sql,
            vec![Box::new(id.to_owned())],
            |row| {
                Ok((
                    row.get(0),
                    record::decode(row.get::<_, &str>(1).as_bytes())?,
                ))
            },
        )?;
        Ok(rows.pop())
    }

    fn scan(&self, tenant: &str, type_name: &str, filters: &[Filter]) -> Result<Objects<'_>> {
        let indexed = |property: &str| self.indexes.contains(tenant, type_name, property);
        let (narrowing, params) = index::narrowing(filters, indexed, 3);
        // Tenant and type as literals, so PostgreSQL sees they match a partial index; ordered
        // as `objects_by_type` is, so it reads the type's rows in order instead of walking
        // every object by id.
        let sql = format!(
            "SELECT id, doc FROM objects WHERE tenant = {} AND type = {} AND id > $1{narrowing} \
             ORDER BY tenant, type, id LIMIT $2",
            literal(tenant),
            literal(type_name)
        );
        Ok(Box::new(Scan {
            postgres: self,
            sql,
            params: std::sync::Arc::new(params),
            after: String::new(),
            chunk: VecDeque::new(),
            done: false,
        }))
    }

    fn sorted(&self, _: &str, _: &str, _: &str, _: Order) -> Result<Option<Objects<'_>>> {
        // The store sorts what a scan returns, keeping one page in memory.
        Ok(None)
    }

    fn count(&self, tenant: &str, type_name: &str) -> Result<usize> {
        let sql = "SELECT count(*) FROM objects WHERE tenant = $1 AND type = $2";
        let params: Params = vec![Box::new(tenant.to_owned()), Box::new(type_name.to_owned())];
        let counts = self.rows("counting objects", sql, params, |row| {
            Ok(row.get::<_, i64>(0))
        })?;
        Ok(counts.first().copied().unwrap_or(0) as usize)
    }

    fn sizes(&self, tenant: &str, type_name: &str) -> Result<Vec<(String, usize)>> {
        let sql = "SELECT id, size FROM objects WHERE tenant = $1 AND type = $2 \
                   ORDER BY tenant, type, id";
        let params: Params = vec![Box::new(tenant.to_owned()), Box::new(type_name.to_owned())];
        self.rows("reading object sizes", sql, params, |row| {
            Ok((row.get(0), row.get::<_, i64>(1) as usize))
        })
    }

    fn types(&self, tenant: &str) -> Result<Vec<String>> {
        // One index probe per type, not a read of every object.
        let sql = "WITH RECURSIVE t(type) AS ( \
                (SELECT type FROM objects WHERE tenant = $1 ORDER BY type LIMIT 1) \
                UNION ALL \
                SELECT (SELECT o.type FROM objects o WHERE o.tenant = $1 AND o.type > t.type \
                        ORDER BY o.type LIMIT 1) FROM t WHERE t.type IS NOT NULL) \
            SELECT type FROM t WHERE type IS NOT NULL";
        self.rows(
            "listing the types",
            sql,
            vec![Box::new(tenant.to_owned())],
            |row| Ok(row.get(0)),
        )
    }

    fn usage(&self, tenant: &str) -> Result<Usage> {
        let sql = "SELECT objects, bytes FROM usage WHERE tenant = $1";
        let rows = self.rows(
            "reading the usage",
            sql,
            vec![Box::new(tenant.to_owned())],
            |row| {
                Ok(Usage {
                    objects: row.get::<_, i64>(0) as u64,
                    bytes: row.get::<_, i64>(1) as u64,
                })
            },
        )?;
        Ok(rows.first().copied().unwrap_or_default())
    }

    fn tenants(&self) -> Result<Vec<String>> {
        let sql = "SELECT tenant FROM usage WHERE objects > 0 ORDER BY tenant";
        self.rows("listing the tenants", sql, Vec::new(), |row| Ok(row.get(0)))
    }

    fn commit(&self, sets: &[WriteSet]) -> Result<Vec<Result<()>>> {
        // The job runs on a connection's thread: it gets its own copy of the write sets.
        let owned: Vec<(String, Vec<Write>, StorageQuota)> = (sets.iter())
            .map(|set| (set.tenant.to_owned(), set.writes.to_vec(), set.quota))
            .collect();
        let me = self.me.clone();
        self.pool.run_on(move |connection| {
            let sets: Vec<WriteSet> = (owned.iter())
                .map(|(tenant, writes, quota)| WriteSet {
                    tenant,
                    writes,
                    quota: *quota,
                })
                .collect();
            let hot = write::Hot::prepare(connection)?;
            let client = &mut connection.client;
            let mut tx = client.transaction().map_err(failed("starting a commit"))?;
            let outcomes = write::apply(&mut tx, &sets, &hot)?;
            let mut changes = Changes::new(&me);
            for (set, outcome) in sets.iter().zip(&outcomes) {
                if outcome.is_ok() {
                    changes.writes(set.tenant, set.writes);
                }
            }
            changes.send(&mut tx, &hot.notify)?;
            tx.commit().map_err(failed("committing"))?;
            Ok(outcomes)
        })
    }

    fn unique(&self, type_name: &str, value: &str) -> Result<Option<(String, String)>> {
        let sql = "SELECT tenant, id FROM unique_values WHERE type = $1 AND value = $2";
        let params: Params = vec![Box::new(type_name.to_owned()), Box::new(value.to_owned())];
        let mut rows = self.rows("reading a unique value", sql, params, |row| {
            Ok((row.get(0), row.get(1)))
        })?;
        Ok(rows.pop())
    }

    fn set_status(&self, tenant: &str, id: &str, fields: &Object) -> Result<Option<String>> {
        let (tenant, id, fields) = (tenant.to_owned(), id.to_owned(), fields.clone());
        let me = self.me.clone();
        self.pool.run(move |client| {
            let mut tx = client.transaction().map_err(failed("starting a commit"))?;
            let type_name = write::set_status(&mut tx, &tenant, &id, &fields)?;
            if let Some(type_name) = &type_name {
                let mut changes = Changes::new(&me);
                changes.object(&tenant, "u", type_name, &id);
                changes.send(&mut tx, changes::NOTIFY)?;
            }
            tx.commit().map_err(failed("committing"))?;
            Ok(type_name)
        })
    }

    fn create_index(&self, tenant: &str, type_name: &str, property: &str) -> Result<Option<usize>> {
        let name = index::name(tenant, type_name, property);
        let create = index::create(&name, tenant, type_name, property);
        let (t, ty, p) = (tenant.to_owned(), type_name.to_owned(), property.to_owned());
        let me = self.me.clone();
        let created = self.pool.run(move |client| {
            let declared = "SELECT 1 FROM object_indexes \
                            WHERE tenant = $1 AND type = $2 AND property = $3";
            if !(client.query(declared, &[&t, &ty, &p]))
                .map_err(failed("reading the indexes"))?
                .is_empty()
            {
                return Ok(None);
            }
            // One that fails leaves an invalid index behind, which goes.
            if let Err(e) = client.batch_execute(&create) {
                let _ = drop_indexes(client, std::iter::once(name.as_str()));
                return Err(Error::storage("building an index", e));
            }
            // The planner knows nothing of the indexed values until the table is analyzed:
            // without their statistics it walks the type in id order instead (seconds over a
            // million objects, where the index answers in a fraction of a millisecond).
            (client.batch_execute("ANALYZE objects")).map_err(failed("analyzing the objects"))?;
            let declare =
                "INSERT INTO object_indexes VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
            let mut tx = client.transaction().map_err(failed("declaring an index"))?;
            (tx.execute(declare, &[&t, &ty, &p, &name])).map_err(failed("declaring an index"))?;
            let mut changes = Changes::new(&me);
            changes.index(&t, &ty, &p, true);
            changes.send(&mut tx, changes::NOTIFY)?;
            tx.commit().map_err(failed("declaring an index"))?;
            let count = "SELECT count(*) FROM objects WHERE tenant = $1 AND type = $2";
            let row = client
                .query_one(count, &[&t, &ty])
                .map_err(failed("counting objects"))?;
            Ok(Some(row.get::<_, i64>(0) as usize))
        })?;
        self.indexes.set(tenant, type_name, property, true);
        Ok(created)
    }

    fn drop_index(&self, tenant: &str, type_name: &str, property: &str) -> Result<bool> {
        self.indexes.set(tenant, type_name, property, false);
        let (t, ty, p) = (tenant.to_owned(), type_name.to_owned(), property.to_owned());
        let me = self.me.clone();
        self.pool.run(move |client| {
            let doing = "removing an index";
            let mut tx = client.transaction().map_err(failed(doing))?;
            let undeclare = "DELETE FROM object_indexes \
                             WHERE tenant = $1 AND type = $2 AND property = $3 RETURNING name";
            let rows = (tx.query(undeclare, &[&t, &ty, &p])).map_err(failed(doing))?;
            let mut changes = Changes::new(&me);
            changes.index(&t, &ty, &p, false);
            changes.send(&mut tx, changes::NOTIFY)?;
            tx.commit().map_err(failed(doing))?;
            drop_indexes(client, rows.iter().map(|row| row.get(0)))?;
            Ok(!rows.is_empty())
        })
    }

    fn indexes(&self, tenant: &str) -> Vec<(String, String)> {
        (self.indexes.0.read().iter())
            .filter(|(t, _, _)| t == tenant)
            .map(|(_, type_name, property)| (type_name.clone(), property.clone()))
            .collect()
    }

    fn remove_tenant(&self, tenant: &str) -> Result<()> {
        self.indexes.0.write().retain(|(t, _, _)| t != tenant);
        let tenant = tenant.to_owned();
        let me = self.me.clone();
        self.pool.run(move |client| {
            let doing = "removing a tenant";
            let mut tx = client.transaction().map_err(failed(doing))?;
            let undeclare = "DELETE FROM object_indexes WHERE tenant = $1 \
                             RETURNING name, type, property";
            let rows = tx.query(undeclare, &[&tenant]).map_err(failed(doing))?;
            for table in ["objects", "usage", "unique_values"] {
                let sql = format!("DELETE FROM {table} WHERE tenant = $1");
                tx.execute(&sql, &[&tenant]).map_err(failed(doing))?;
            }
            let mut changes = Changes::new(&me);
            for row in &rows {
                changes.index(&tenant, row.get(1), row.get(2), false);
            }
            changes.anything();
            changes.send(&mut tx, changes::NOTIFY)?;
            tx.commit().map_err(failed(doing))?;
            drop_indexes(client, rows.iter().map(|row| row.get(0)))
        })
    }

    fn flush(&self) -> Result<()> {
        // Every commit was durable when it returned.
        Ok(())
    }

    fn space_get(&self, space: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let sql = "SELECT value FROM spaces WHERE space = $1 AND key = $2";
        let params: Params = vec![Box::new(space.to_owned()), Box::new(key.to_owned())];
        let mut rows = self.rows("reading a setting", sql, params, |row| Ok(row.get(0)))?;
        Ok(rows.pop())
    }

    fn space_list(&self, space: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let sql = "SELECT key, value FROM spaces WHERE space = $1 AND starts_with(key, $2) \
                   ORDER BY key";
        let params: Params = vec![Box::new(space.to_owned()), Box::new(prefix.to_owned())];
        self.rows("listing a space", sql, params, |row| {
            Ok((row.get(0), row.get(1)))
        })
    }

    fn space_write(&self, space: &str, entries: &[(&str, Option<&[u8]>)]) -> Result<()> {
        let space = space.to_owned();
        let entries: Vec<(String, Option<Vec<u8>>)> = (entries.iter())
            .map(|(key, value)| (key.to_string(), value.map(<[u8]>::to_vec)))
            .collect();
        let me = self.me.clone();
        self.pool.run(move |client| {
            let doing = "writing a space";
            let mut tx = client.transaction().map_err(failed(doing))?;
            let mut changes = Changes::new(&me);
            for (key, value) in &entries {
                changes.space(&space, key);
                match value {
                    Some(value) => tx.execute(
                        "INSERT INTO spaces VALUES ($1, $2, $3) \
                         ON CONFLICT (space, key) DO UPDATE SET value = $3",
                        &[&space, key, value],
                    ),
                    None => tx.execute(
                        "DELETE FROM spaces WHERE space = $1 AND key = $2",
                        &[&space, key],
                    ),
                }
                .map_err(failed(doing))?;
            }
            changes.send(&mut tx, changes::NOTIFY)?;
            tx.commit().map_err(failed(doing))
        })
    }

    fn queue_push(&self, queue: &str, due_ms: u64, record: &[u8]) -> Result<()> {
        // Due time first, so key order is the order to take them in; a v7 UUID keeps keys
        // unique.
        let key = [&due_ms.to_be_bytes()[..], uuid::Uuid::now_v7().as_bytes()].concat();
        let sql = "INSERT INTO queues VALUES ($1, $2, $3, $4)";
        let params: Params = vec![
            Box::new(queue.to_owned()),
            Box::new(key),
            Box::new(due_ms as i64),
            Box::new(record.to_vec()),
        ];
        self.execute("queueing", sql, params).map(drop)
    }

    fn queue_first(&self, queue: &str) -> Result<Option<Queued>> {
        let sql = format!(
            "SELECT key, due, record FROM queues WHERE queue = $1 AND held_until <= {NOW_MS} \
             ORDER BY key LIMIT 1"
        );
        let mut rows = self.rows(
            "reading a queue",
            sql,
            vec![Box::new(queue.to_owned())],
            |row| {
                Ok(Queued {
                    key: row.get(0),
                    due_ms: row.get::<_, i64>(1) as u64,
                    record: row.get(2),
                })
            },
        )?;
        Ok(rows.pop())
    }

    fn queue_claim(&self, queue: &str, key: &[u8], hold_ms: u64) -> Result<bool> {
        let sql = format!(
            "UPDATE queues SET held_until = {NOW_MS} + $3 \
             WHERE queue = $1 AND key = $2 AND held_until <= {NOW_MS}"
        );
        let params: Params = vec![
            Box::new(queue.to_owned()),
            Box::new(key.to_vec()),
            Box::new(i64::try_from(hold_ms).unwrap_or(i64::MAX)),
        ];
        Ok(self.execute("claiming a queued entry", sql, params)? == 1)
    }

    fn queue_remove(&self, queue: &str, key: &[u8]) -> Result<()> {
        let sql = "DELETE FROM queues WHERE queue = $1 AND key = $2";
        let params: Params = vec![Box::new(queue.to_owned()), Box::new(key.to_vec())];
        self.execute("dequeueing", sql, params).map(drop)
    }

    fn check(&self) -> Result<()> {
        (self.pool)
            .run(|client| (client.batch_execute("SELECT 1")).map_err(failed("checking PostgreSQL")))
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn heartbeat(&self, instance: &Instance) -> Result<()> {
        let sql = format!(
            "INSERT INTO instances VALUES ($1, $2, $3, {NOW_MS}) ON CONFLICT (id) DO UPDATE \
             SET address = $2, heartbeat = {NOW_MS}"
        );
        let params: Params = vec![
            Box::new(instance.id.clone()),
            Box::new(instance.address.clone()),
            Box::new(instance.started_at.clone()),
        ];
        self.execute("recording a heartbeat", sql, params)?;
        // Instances gone for a day are forgotten.
        let forget = format!("DELETE FROM instances WHERE heartbeat < {NOW_MS} - 86400000");
        self.execute("forgetting old instances", forget, Vec::new())
            .map(drop)
    }

    fn instances(&self, live: Duration) -> Result<Vec<Instance>> {
        let live = i64::try_from(live.as_millis()).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT i.id, i.address, i.started_at, i.heartbeat, \
                    array_remove(array_agg(l.name ORDER BY l.name), NULL) \
             FROM instances i LEFT JOIN leases l ON l.holder = i.id AND l.expires > {NOW_MS} \
             WHERE i.heartbeat > {NOW_MS} - $1 \
             GROUP BY i.id ORDER BY i.started_at, i.id"
        );
        self.rows("listing the instances", sql, vec![Box::new(live)], |row| {
            let heartbeat = chrono::DateTime::from_timestamp_millis(row.get(3));
            Ok(Instance {
                id: row.get(0),
                address: row.get(1),
                started_at: row.get(2),
                heartbeat_at: heartbeat.map_or_else(String::new, |at| {
                    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                }),
                leases: row.get(4),
            })
        })
    }

    fn gone(&self, live: Duration) -> Result<Vec<String>> {
        let live = i64::try_from(live.as_millis()).unwrap_or(i64::MAX);
        let sql = format!("SELECT id FROM instances WHERE heartbeat <= {NOW_MS} - $1 ORDER BY id");
        self.rows(
            "listing the instances that died",
            sql,
            vec![Box::new(live)],
            |row| Ok(row.get(0)),
        )
    }

    fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let sql = format!(
            "INSERT INTO leases VALUES ($1, $2, {NOW_MS} + $3) ON CONFLICT (name) DO UPDATE \
             SET holder = $2, expires = {NOW_MS} + $3 \
             WHERE leases.holder = $2 OR leases.expires <= {NOW_MS}"
        );
        let params: Params = vec![
            Box::new(name.to_owned()),
            Box::new(holder.to_owned()),
            Box::new(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
        ];
        Ok(self.execute("taking a lease", sql, params)? == 1)
    }

    fn release(&self, name: &str, holder: &str) -> Result<()> {
        let sql = "DELETE FROM leases WHERE name = $1 AND holder = $2";
        let params: Params = vec![Box::new(name.to_owned()), Box::new(holder.to_owned())];
        self.execute("giving up a lease", sql, params).map(drop)
    }

    fn watch(&self, hear: Hear) -> Result<()> {
        *self.hear.write() = Some(hear);
        Ok(())
    }
}

/// Drops the PostgreSQL indexes `names`, concurrently: writes go on meanwhile.
fn drop_indexes<'a>(client: &mut Client, names: impl Iterator<Item = &'a str>) -> Result<()> {
    for name in names {
        (client.batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}")))
            .map_err(failed("removing an index"))?;
    }
    Ok(())
}
