//! The tables in PostgreSQL and their migrations.
//!
//! Each migration runs once, in order, in a transaction holding an advisory lock, so several
//! instances starting at once on an empty database create the schema once and the others wait
//! and find it done. `switchyard_schema` records the version; a database of a later version
//! than this build knows is refused rather than misread.
//!
//! Tables mirror the embedded engine's: `objects` (one row per object, its JSON as text:
//! exactly the bytes the store wrote, key order included; `search` is set only for an object
//! `jsonb` cannot read, see [`super::index`]), `usage` (per tenant), `unique_values`
//! (who has each value of a property unique on the server), `object_indexes` (the declared
//! indexes; each is a partial expression index on `objects`), `spaces` and `queues` (with the
//! time, in the database's clock, until which an instance holds an entry), `instances` (each
//! instance's last heartbeat) and `leases` (who runs what only one instance may run, until
//! when). Times are milliseconds of the database's clock, the one every instance shares. Keys and
//! names use the "C" collation, so they sort by bytes as the embedded engine's keys do: ids are
//! UUID v7, so id order is creation order.

use crate::{Error, Result};
use postgres::Client;

/// Any constant distinct from the other advisory locks a database's users may take.
const MIGRATION_LOCK: i64 = 0x5357_4954_4348_5944; // "SWITCHYD"

const MIGRATIONS: &[&str] = &[r#"
    CREATE TABLE objects (
        id text COLLATE "C" PRIMARY KEY,
        tenant text COLLATE "C" NOT NULL,
        type text COLLATE "C" NOT NULL,
        doc text NOT NULL,
        size bigint NOT NULL,
        search jsonb
    );
    CREATE INDEX objects_by_type ON objects (tenant, type, id);
    CREATE TABLE usage (
        tenant text COLLATE "C" PRIMARY KEY,
        objects bigint NOT NULL,
        bytes bigint NOT NULL
    );
    CREATE TABLE unique_values (
        type text COLLATE "C" NOT NULL,
        value text COLLATE "C" NOT NULL,
        tenant text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        PRIMARY KEY (type, value)
    );
    CREATE INDEX unique_values_by_tenant ON unique_values (tenant);
    CREATE TABLE object_indexes (
        tenant text COLLATE "C" NOT NULL,
        type text COLLATE "C" NOT NULL,
        property text COLLATE "C" NOT NULL,
        name text NOT NULL,
        PRIMARY KEY (tenant, type, property)
    );
    CREATE TABLE spaces (
        space text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (space, key)
    );
    CREATE TABLE queues (
        queue text COLLATE "C" NOT NULL,
        key bytea NOT NULL,
        due bigint NOT NULL,
        record bytea NOT NULL,
        held_until bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (queue, key)
    );
    CREATE TABLE instances (
        id text COLLATE "C" PRIMARY KEY,
        address text NOT NULL,
        started_at text NOT NULL,
        heartbeat bigint NOT NULL
    );
    CREATE TABLE leases (
        name text COLLATE "C" PRIMARY KEY,
        holder text COLLATE "C" NOT NULL,
        expires bigint NOT NULL
    );
"#];

/// Brings the database's schema up to this build's version.
pub(super) fn migrate(client: &mut Client) -> Result<()> {
    let doing = "migrating the PostgreSQL schema";
    let failed = |e| Error::storage(doing, e);
    let mut tx = client.transaction().map_err(failed)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(failed)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS switchyard_schema (version bigint NOT NULL)")
        .map_err(failed)?;
    let row = tx
        .query_opt("SELECT version FROM switchyard_schema", &[])
        .map_err(failed)?;
    let version = match row {
        Some(row) => row.get::<_, i64>(0),
        None => {
            tx.execute("INSERT INTO switchyard_schema VALUES (0)", &[])
                .map_err(failed)?;
            0
        }
    };
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(Error::Corrupt(format!(
            "the PostgreSQL schema is at version {version}; this Switchyard knows up to version \
             {known}: upgrade Switchyard"
        )));
    }
    for migration in &MIGRATIONS[version as usize..] {
        tx.batch_execute(migration).map_err(failed)?;
    }
    tx.execute("UPDATE switchyard_schema SET version = $1", &[&known])
        .map_err(failed)?;
    tx.commit().map_err(failed)
}
