//! Secondary indexes in PostgreSQL: a declared (tenant, type, property) is a partial
//! expression index on `objects` over the property's value as `jsonb`. A query's equality,
//! `in` and numeric range filters on an indexed property become conditions PostgreSQL answers
//! from it. They only narrow: the store checks every object it gets against the whole query,
//! so a condition may let through more than matches (never less), and filters PostgreSQL
//! cannot compare as the store does are left to the store.
//!
//! `jsonb` refuses a string holding `\u0000`, which JSON allows. An object with one keeps, in
//! `search`, a copy whose strings have it replaced ([`searchable`]), and the index reads that
//! copy; filter values are replaced the same way, so equal values stay equal (and the rare
//! strings the replacement makes equal are told apart by the store's own check).

use super::{Params, literal};
use crate::{Filter, Op};
use serde_json::Value;

/// Numbers compare as the store compares them only below this magnitude: beyond it the store's
/// floats round where PostgreSQL's `numeric` does not.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// What stands for `\u0000` where `jsonb` reads a value.
const NUL: &str = "\u{FFFD}";

/// The property's value, as the index holds it.
fn value_of(property: &str) -> String {
    format!("(COALESCE(search, doc::jsonb) -> {})", literal(property))
}

/// The JSON `jsonb` reads in place of an object's, if the object holds a `\u0000` (which is
/// written `\u0000` in JSON text).
pub(super) fn searchable(json: &[u8]) -> Option<String> {
    if !json.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    let mut value: Value = serde_json::from_slice(json).ok()?;
    replace_nul(&mut value);
    Some(value.to_string())
}

fn replace_nul(value: &mut Value) {
    match value {
        Value::String(text) => *text = text.replace('\0', NUL),
        Value::Array(items) => items.iter_mut().for_each(replace_nul),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                replace_nul(&mut item);
                map.insert(key.replace('\0', NUL), item);
            }
        }
        _ => {}
    }
}

/// A stable name within PostgreSQL's 63 bytes, whatever the names' lengths (FNV-1a).
pub(super) fn name(tenant: &str, type_name: &str, property: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in [tenant, type_name, property].join("\0").bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("objects_by_{hash:016x}")
}

/// The statement that builds the index `name` of `property` of `tenant`'s `type_name`.
/// Concurrently: writes go on while it builds.
pub(super) fn create(name: &str, tenant: &str, type_name: &str, property: &str) -> String {
    format!(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON objects ({}) \
         WHERE tenant = {} AND type = {}",
        value_of(property),
        literal(tenant),
        literal(type_name)
    )
}

/// `value` as PostgreSQL compares it as the store does, if it does: a string (with `\u0000`
/// replaced), a boolean, or a number of a magnitude both compare alike.
fn comparable(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(Value::String(text.replace('\0', NUL)).to_string()),
        Value::Bool(_) => Some(value.to_string()),
        Value::Number(n) if n.as_f64().is_some_and(|f| f.abs() < EXACT) => Some(n.to_string()),
        _ => None,
    }
}

/// The conditions that narrow a scan by the `filters` on `indexed` properties, with their
/// parameters from `$first` on.
pub(super) fn narrowing(
    filters: &[Filter],
    indexed: impl Fn(&str) -> bool,
    first: usize,
) -> (String, Params) {
    let mut sql = String::new();
    let mut params: Params = Vec::new();
    for filter in filters.iter().filter(|f| indexed(&f.column)) {
        let n = first + params.len();
        let value = value_of(&filter.column);
        let op = match filter.op {
            Op::Eq => "=",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::In => {
                let options = (filter.value.as_array())
                    .and_then(|options| options.iter().map(comparable).collect::<Option<Vec<_>>>());
                let Some(options) = options else { continue };
                params.push(Box::new(options));
                sql += &format!(" AND {value} = ANY ((${n}::text[])::jsonb[])");
                continue;
            }
            Op::Neq | Op::Contains | Op::Like | Op::Ilike => continue,
        };
        // Ranges only over numbers: `jsonb` orders strings by the database's collation.
        let ranged = !matches!(filter.op, Op::Eq);
        match comparable(&filter.value) {
            Some(compared) if !ranged || filter.value.is_number() => {
                params.push(Box::new(compared));
                sql += &format!(" AND {value} {op} (${n}::text)::jsonb");
            }
            _ => continue,
        }
    }
    (sql, params)
}
