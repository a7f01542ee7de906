//! What every engine checks before it applies a write set, the same way whatever keeps the
//! bytes: that a write is based on the version stored, that unique values stay unique, and
//! that the tenant stays within its quota. An engine reads what is stored; these decide.

use crate::backend::Write;
use crate::{Error, Object, Result, StorageQuota, Usage, props, record};
use std::collections::HashSet;

/// Refuses a write whose object changed since the write set read it: deleted (`stored` is
/// `None`) or at another version.
pub(crate) fn based_on(write: &Write, stored: Option<&Object>) -> Result<()> {
    let Some(stored) = stored else {
        return Err(Error::Conflict(format!(
            "{} {} was deleted by another writer; nothing was written",
            write.type_name, write.id
        )));
    };
    let current = props::version_of(stored);
    if current != write.base {
        return Err(crate::txn::stale(
            &write.type_name,
            &write.id,
            write.base,
            current,
        ));
    }
    Ok(())
}

/// The values of a write's unique property before (as stored) and after it (as written).
pub(crate) struct Claim {
    pub property: &'static str,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl Claim {
    /// What `write` changes of its unique property over `stored`, if it changes it.
    pub(crate) fn of(write: &Write, stored: Option<&Object>) -> Result<Option<Claim>> {
        let Some(property) = write.unique else {
            return Ok(None);
        };
        let value = |object: &Object| object.get(property)?.as_str().map(str::to_owned);
        let after = match &write.bytes {
            Some(bytes) => value(&record::decode(bytes)?),
            None => None,
        };
        let before = stored.and_then(value);
        Ok((before != after).then_some(Claim {
            property,
            before,
            after,
        }))
    }
}

/// Who holds a unique value, as engines record it: `<tenant>\0<id>`.
pub(crate) fn owner(tenant: &str, id: &str) -> String {
    format!("{tenant}\0{id}")
}

/// Refuses a set that gives a unique property a value another object has, stored (`holder`
/// answers who holds a type's value) or written earlier in the set; a value the set itself
/// gives up is free again.
pub(crate) fn claims(
    tenant: &str,
    claims: &[(&Write, Claim)],
    mut holder: impl FnMut(&str, &str) -> Result<Option<String>>,
) -> Result<()> {
    let given_up: HashSet<(&str, &str)> = (claims.iter())
        .filter_map(|(write, claim)| Some((write.type_name.as_str(), claim.before.as_deref()?)))
        .collect();
    let mut taken_here = HashSet::new();
    for (write, claim) in claims {
        let Some(value) = &claim.after else { continue };
        let key = (write.type_name.as_str(), value.as_str());
        let taken = holder(&write.type_name, value)?
            .is_some_and(|holder| holder != owner(tenant, &write.id) && !given_up.contains(&key));
        if taken || !taken_here.insert(key) {
            return Err(taken_error(write, claim.property, value));
        }
    }
    Ok(())
}

/// The error of a write whose unique `property` takes a `value` another object has.
pub(crate) fn taken_error(write: &Write, property: &str, value: &str) -> Error {
    Error::Taken(format!(
        "{}.{property} `{value}` is taken: another {} has it",
        write.type_name, write.type_name
    ))
}

/// Refuses a set that adds objects or bytes past its tenant's quota; one that adds none (an
/// update that shrinks, a delete) always passes, so a tenant over its quota can clean up.
pub(crate) fn within_quota(
    tenant: &str,
    usage: &Usage,
    quota: StorageQuota,
    objects: i64,
    bytes: i64,
) -> Result<()> {
    let over = |now: u64, delta: i64, max: Option<u64>| {
        max.filter(|&max| delta > 0 && now.saturating_add_signed(delta) > max)
    };
    if let Some(max) = over(usage.objects, objects, quota.objects) {
        return Err(Error::Quota(format!(
            "objects quota: tenant `{tenant}` may keep {max} objects and has {}; this write \
             would add {objects}",
            usage.objects
        )));
    }
    if let Some(max) = over(usage.bytes, bytes, quota.bytes) {
        return Err(Error::Quota(format!(
            "storageMb quota: tenant `{tenant}` may store {} MiB and stores {:.1} MiB; this \
             write would add {bytes} bytes",
            max >> 20,
            usage.bytes as f64 / f64::from(1 << 20)
        )));
    }
    Ok(())
}

/// How many objects and bytes a set adds, given the size of what each write replaces.
pub(crate) fn growth(writes: &[Write], replaced: impl Iterator<Item = Option<u64>>) -> (i64, i64) {
    let (mut objects, mut bytes) = (0i64, 0i64);
    for (write, replaced) in writes.iter().zip(replaced) {
        let written = write.bytes.as_ref().map(|b| b.len() as i64);
        objects += i64::from(written.is_some()) - i64::from(replaced.is_some());
        bytes += written.unwrap_or(0) - replaced.map_or(0, |size| size as i64);
    }
    (objects, bytes)
}
