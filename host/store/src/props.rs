//! The rules that turn user input into a stored object: reserved, read-only and write-only
//! properties, merge and replace semantics, defaults and validation.
//!
//! Kept apart from the transaction machinery so every write path (create, update, replace,
//! host status) agrees on what users may change.

use crate::record::{new_id, now, type_of};
use crate::types::{Builtin, Schema, validate_type_name};
use crate::{Error, Object, Result};
use serde_json::Value;

const ID: &str = "id";
const TYPE: &str = "type";
const CREATED_AT: &str = "createdAt";
const UPDATED_AT: &str = "updatedAt";
/// Counts the object's writes from 1; a write computed from an older version is a conflict.
pub(crate) const VERSION: &str = "version";
const RESERVED: [&str; 5] = [ID, TYPE, CREATED_AT, UPDATED_AT, VERSION];

fn into_map(input: Value) -> Result<Object> {
    match input {
        Value::Object(map) => Ok(map),
        _ => Err(Error::Invalid("properties must be a JSON object".into())),
    }
}

/// A new object of `type_name` from user input, with a fresh id and timestamps.
/// `null` values are left out: null means "no value" here as in a merge.
pub(crate) fn create(schema: &Schema, type_name: &str, input: Value) -> Result<Object> {
    validate_type_name(type_name)?;
    let mut input = into_map(input)?;
    if let Some(prop) = RESERVED.iter().find(|prop| input.contains_key(**prop)) {
        return Err(Error::Invalid(format!(
            "property `{prop}` is reserved and set by the store; leave it out"
        )));
    }
    let builtin = schema.builtin(type_name);
    prepare(builtin.as_ref(), &mut input)?;
    let mut object = Object::new();
    object.insert(ID.into(), new_id().into());
    object.insert(TYPE.into(), type_name.into());
    for (prop, value) in input {
        if !value.is_null() && !builtin.as_ref().is_some_and(|b| b.is_read_only(&prop)) {
            object.insert(prop, value);
        }
    }
    if let Some(builtin) = &builtin {
        for (prop, initial) in builtin.read_only() {
            object.insert((*prop).into(), initial.clone());
        }
    }
    finish(builtin, &mut object)?;
    let now = now();
    object.insert(CREATED_AT.into(), now.clone().into());
    object.insert(UPDATED_AT.into(), now.into());
    object.insert(VERSION.into(), 1.into());
    Ok(object)
}

/// `current` with `patch` merged in; `null` in the patch removes a property.
pub(crate) fn merge(schema: &Schema, current: Object, patch: Value) -> Result<Object> {
    let mut patch = into_map(patch)?;
    let builtin = schema.builtin(type_of(&current));
    prepare(builtin.as_ref(), &mut patch)?;
    let mut object = current;
    for (prop, value) in patch {
        if is_unchanged_reserved(&object, &prop, &value)?
            || builtin.as_ref().is_some_and(|b| b.is_read_only(&prop))
        {
            continue;
        }
        if value.is_null() {
            object.remove(&prop);
        } else {
            object.insert(prop, value);
        }
    }
    finish(builtin, &mut object)?;
    touch(&mut object);
    Ok(object)
}

/// `current` with its user properties replaced by `input`. Reserved and host-maintained
/// properties stay; secrets stay unless `input` names them (`null` removes one), because
/// reads never return them and a GET-edit-PUT round trip must not erase them.
pub(crate) fn replace(schema: &Schema, current: Object, input: Value) -> Result<Object> {
    let mut input = into_map(input)?;
    let builtin = schema.builtin(type_of(&current));
    prepare(builtin.as_ref(), &mut input)?;
    let mut object: Object = current
        .into_iter()
        .filter(|(prop, _)| {
            RESERVED.contains(&prop.as_str())
                || builtin.as_ref().is_some_and(|b| {
                    b.is_read_only(prop) || (b.is_write_only(prop) && !input.contains_key(prop))
                })
        })
        .collect();
    for (prop, value) in input {
        if is_unchanged_reserved(&object, &prop, &value)?
            || builtin.as_ref().is_some_and(|b| b.is_read_only(&prop))
            || value.is_null()
        {
            continue;
        }
        object.insert(prop, value);
    }
    finish(builtin, &mut object)?;
    touch(&mut object);
    Ok(object)
}

/// `current` with host-maintained `fields` set, bypassing the user rules. The version stays:
/// status is carried over by every user write (see [`carry_status`]), so it never conflicts.
pub(crate) fn set_status(current: &mut Object, fields: &Object) {
    current.extend(
        fields
            .iter()
            .map(|(prop, value)| (prop.clone(), value.clone())),
    );
    current.insert(UPDATED_AT.into(), now().into());
}

/// Copies the host-maintained properties of `stored` (a client or a device) into `object`, so a
/// user write computed from an older read does not undo a status the host set meanwhile.
pub(crate) fn carry_status(object: &mut Object, stored: &Object) {
    let status = switchyard_model::CLIENT_STATUS.iter();
    for (prop, _) in status.chain(&switchyard_model::DEVICE_STATUS) {
        match stored.get(*prop) {
            Some(value) => object.insert((*prop).into(), value.clone()),
            None => object.remove(*prop),
        };
    }
}

/// Removes write-only properties (secrets) from an object about to be read.
pub(crate) fn strip_secrets(schema: &Schema, object: &mut Object) {
    if let Some(builtin) = schema.builtin(type_of(object)) {
        object.retain(|prop, _| !builtin.is_write_only(prop));
    }
}

/// Reserved properties may appear in update input only unchanged, so a read object can be
/// written back as is; `updatedAt` and `version` are skipped whatever they say, since they
/// move with every write and a copy read a moment ago is legitimately stale (`If-Match` is
/// how a writer asks for a version check). Returns whether `prop` is reserved (and thus to
/// be skipped).
fn is_unchanged_reserved(object: &Object, prop: &str, value: &Value) -> Result<bool> {
    if !RESERVED.contains(&prop) {
        return Ok(false);
    }
    if prop == UPDATED_AT || prop == VERSION || object.get(prop) == Some(value) {
        Ok(true)
    } else {
        Err(Error::Invalid(format!(
            "property `{prop}` is reserved and cannot be changed"
        )))
    }
}

fn prepare(builtin: Option<&Builtin>, input: &mut Object) -> Result<()> {
    builtin.map_or(Ok(()), |builtin| builtin.prepare_input(input))
}

fn finish(builtin: Option<Builtin>, object: &mut Object) -> Result<()> {
    match builtin {
        Some(builtin) => {
            builtin.apply_defaults(object);
            builtin.validate(object)
        }
        None => Ok(()),
    }
}

/// Marks a user write: a new `updatedAt` and the next version.
fn touch(object: &mut Object) {
    object.insert(UPDATED_AT.into(), now().into());
    let next = version_of(object) + 1;
    object.insert(VERSION.into(), next.into());
}

/// The object's version; objects stored before versions existed count as version 0.
pub(crate) fn version_of(object: &Object) -> u64 {
    object.get(VERSION).and_then(Value::as_u64).unwrap_or(0)
}
