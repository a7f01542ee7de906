//! serde_json with errors that say which value was read and, through serde_path_to_error,
//! which field inside it was wrong: serde_json alone reports only line and column.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// Parses `json` into `T`; `context` names the value (for example "message payload").
pub(crate) fn parse<T: DeserializeOwned>(json: &[u8], context: impl Fn() -> String) -> Result<T> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let context = match path.as_str() {
            "." => context(),
            field => format!("{}, field `{field}`", context()),
        };
        Error::json(context, e.into_inner())
    })?;
    deserializer.end().map_err(|e| Error::json(context(), e))?;
    Ok(value)
}

/// Serializes `value` to a JSON string; `context` names the value.
pub(crate) fn to_string(
    value: &impl Serialize,
    context: impl FnOnce() -> String,
) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::json(context(), e))
}

/// Serializes `value` to a JSON value; `context` names the value.
pub(crate) fn to_value(
    value: &impl Serialize,
    context: impl FnOnce() -> String,
) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::json(context(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Outer {
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Inner {
        value: f64,
    }

    #[test]
    fn nested_values_are_read() {
        let outer: Outer = parse(br#"{"inner":{"value":1.5}}"#, || "payload".into()).unwrap();
        assert_eq!(outer.inner.value, 1.5);
    }

    #[test]
    fn a_wrong_field_is_named_with_its_path() {
        let error = parse::<Outer>(br#"{"inner":{"value":"hot"}}"#, || "payload".into())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("payload, field `inner.value`: invalid type: string \"hot\""),
            "{error}"
        );
    }

    #[test]
    fn trailing_garbage_is_rejected() {
        let error = parse::<Inner>(br#"{"value":1} x"#, || "payload".into()).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("payload: trailing characters"),
            "{error}"
        );
    }
}
