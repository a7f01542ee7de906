//! Checks of object properties that name what is wrong as `Type.property must be ...`, for the
//! built-in types and the client kinds that broker crates describe.

use crate::Object;
use serde_json::Value;

/// One object's properties under validation, so each check names `Type.property`.
pub struct Props<'a> {
    type_name: &'a str,
    object: &'a Object,
}

impl<'a> Props<'a> {
    pub fn new(type_name: &'a str, object: &'a Object) -> Props<'a> {
        Props { type_name, object }
    }

    pub fn get(&self, prop: &str) -> Option<&'a Value> {
        self.object.get(prop)
    }

    /// `Type.prop must be <expected>`.
    pub fn invalid(&self, prop: &str, expected: &str) -> String {
        format!("{}.{prop} must be {expected}", self.type_name)
    }

    pub fn check(&self, ok: bool, prop: &str, expected: &str) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(self.invalid(prop, expected))
        }
    }

    pub fn required_string(&self, prop: &str) -> Result<&'a str, String> {
        match self.get(prop) {
            None => Err(format!("{}.{prop} is required", self.type_name)),
            Some(value) => value.as_str().ok_or_else(|| self.invalid(prop, "a string")),
        }
    }

    /// An optional string.
    pub fn string(&self, prop: &str) -> Result<(), String> {
        self.check(
            self.get(prop).is_none_or(Value::is_string),
            prop,
            "a string",
        )
    }

    /// An optional whole number within `min..=max`.
    pub fn integer(&self, prop: &str, min: u64, max: u64) -> Result<(), String> {
        self.check(
            self.get(prop)
                .is_none_or(|v| v.as_u64().is_some_and(|n| (min..=max).contains(&n))),
            prop,
            &format!("a whole number from {min} to {max}"),
        )
    }

    /// An optional boolean.
    pub fn bool(&self, prop: &str) -> Result<(), String> {
        self.check(
            self.get(prop).is_none_or(Value::is_boolean),
            prop,
            "true or false",
        )
    }

    /// An optional list whose every element passes `ok`.
    pub fn list(
        &self,
        prop: &str,
        element: &str,
        ok: impl Fn(&Value) -> bool,
    ) -> Result<(), String> {
        let Some(value) = self.get(prop) else {
            return Ok(());
        };
        let items = value
            .as_array()
            .ok_or_else(|| self.invalid(prop, &format!("a list, each element {element}")))?;
        match items.iter().position(|item| !ok(item)) {
            None => Ok(()),
            // The bad value is not echoed: broker URLs may carry credentials.
            Some(i) => Err(format!("{}.{prop}[{i}] must be {element}", self.type_name)),
        }
    }

    /// The required, non-empty `servers` list of broker clients, each element passing `ok`.
    pub fn servers(&self, element: &str, ok: impl Fn(&str) -> bool) -> Result<(), String> {
        match self.get("servers") {
            None => Err(format!("{}.servers is required", self.type_name)),
            Some(Value::Array(items)) if !items.is_empty() => {
                self.list("servers", element, |v| v.as_str().is_some_and(&ok))
            }
            Some(_) => Err(self.invalid(
                "servers",
                &format!("a non-empty list, each element {element}"),
            )),
        }
    }
}

/// Whether `text` is a URL with one of `schemes` and a host.
pub fn is_url_with_host(text: &str, schemes: &[&str]) -> bool {
    url::Url::parse(text).is_ok_and(|url| {
        schemes.contains(&url.scheme()) && url.host_str().is_some_and(|host| !host.is_empty())
    })
}

/// Whether `text` is `host:port` with a port above 0.
pub fn is_host_port(text: &str) -> bool {
    text.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok_and(|p| p > 0)
    })
}

/// Whether `name` can name an object type: a letter, then letters, digits or `_`, at most 64
/// (type names end up in index keys and URLs).
pub fn is_type_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// What a plugin name may be: it becomes a key, a log tag and a path segment.
pub const PLUGIN_NAME_EXPECTED: &str = "a plugin name of 1 to 64 letters, digits, `.`, `_` or `-`";

/// Whether `name` is a valid plugin name.
pub fn is_plugin_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A `servers` property from servers as a user types them, comma-separated.
pub fn servers(text: &str) -> Object {
    let servers = text.split(',').map(|s| Value::from(s.trim())).collect();
    Object::from_iter([("servers".to_owned(), Value::Array(servers))])
}

/// The secrets of broker clients: passwords (`password`, librdkafka's `sasl.password` and
/// `ssl.key.password`) and tokens (`token`, `authToken`).
pub fn is_client_secret(property: &str) -> bool {
    matches!(property, "password" | "token" | "authToken") || property.ends_with(".password")
}
