//! `MQTTDevice`: a device's credentials for the embedded broker and the topics it may use.
//!
//! Its `username` is unique on the server (a device names no tenant when it connects: its
//! username finds it), its `password` is kept only as an Argon2id hash and never read back,
//! and its `publish` and `subscribe` lists are the topic filters it may use, where
//! `{username}` stands for its own name. Its `read` and `write` lists are the object types it
//! may read and change over Data over MQTT (`*`: every type of its tenant that is not
//! built in).

use crate::schema::{Props, is_type_name};
use crate::{MQTT_DEVICE, Object, text};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde_json::Value;

/// Host-maintained properties of a device, with their values before it first connects.
pub const DEVICE_STATUS: [(&str, Value); 2] = [
    ("isConnected", Value::Bool(false)),
    ("lastSeen", Value::Null),
];

/// The property that stands for a device's own name in its filters.
const OWN_NAME: &str = "{username}";
/// Passwords shorter than this are refused: a device password is all that guards its topics.
const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 1024;
const MAX_USERNAME: usize = 128;

/// The parts of an `MQTTDevice` the broker acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub id: String,
    pub username: String,
    /// The Argon2id hash of its password, if it has one.
    password_hash: Option<String>,
    pub enabled: bool,
    /// Filters it may publish to, with `{username}` replaced.
    pub publish: Vec<String>,
    /// Filters it may subscribe within, with `{username}` replaced.
    pub subscribe: Vec<String>,
    /// Object types it may read over Data over MQTT; `*` for every user type.
    pub read: Vec<String>,
    /// Object types it may create, update and delete over Data over MQTT; `*` for every user
    /// type.
    pub write: Vec<String>,
}

impl Device {
    /// Reads a stored `MQTTDevice` (with its secrets); `None` for anything else.
    pub fn of(object: &Object) -> Option<Device> {
        if crate::type_of(object) != MQTT_DEVICE {
            return None;
        }
        let username = text(object, "username")?.to_owned();
        let filters = |property: &str| {
            let list = object.get(property).and_then(Value::as_array);
            (list.into_iter().flatten())
                .filter_map(Value::as_str)
                .map(|filter| filter.replace(OWN_NAME, &username))
                .collect()
        };
        let types = |property: &str| {
            let list = object.get(property).and_then(Value::as_array);
            (list.into_iter().flatten())
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        Some(Device {
            id: text(object, "id")?.to_owned(),
            read: types("read"),
            write: types("write"),
            password_hash: text(object, "password").map(str::to_owned),
            enabled: object.get("isEnabled").and_then(Value::as_bool) != Some(false),
            publish: filters("publish"),
            subscribe: filters("subscribe"),
            username,
        })
    }

    /// Whether `password` is this device's password. Slow on purpose (Argon2id): call it off
    /// the async threads.
    pub fn verify(&self, password: &[u8]) -> bool {
        let Some(hash) = &self.password_hash else {
            return false;
        };
        PasswordHash::new(hash).is_ok_and(|hash| {
            argon2::Argon2::default()
                .verify_password(password, &hash)
                .is_ok()
        })
    }

    /// Whether the device may publish to `topic`.
    pub fn may_publish(&self, topic: &str) -> bool {
        (self.publish.iter()).any(|allowed| switchyard_topic::matches(allowed, topic))
    }

    /// Whether the device may subscribe to `filter`: every topic it matches is one of its
    /// `subscribe` filters'.
    pub fn may_subscribe(&self, filter: &str) -> bool {
        (self.subscribe.iter()).any(|allowed| switchyard_topic::covers(allowed, filter))
    }

    /// Whether the device may read objects of `type_name`, a user type.
    pub fn may_read(&self, type_name: &str) -> bool {
        grants(&self.read, type_name)
    }

    /// Whether the device may write objects of `type_name`, a user type.
    pub fn may_write(&self, type_name: &str) -> bool {
        grants(&self.write, type_name)
    }

    /// Turns a plain `password` in user input into its hash, so no write path stores it plain.
    pub fn hash_input(input: &mut Object) -> Result<(), String> {
        let Some(password) = input.get("password") else {
            return Ok(());
        };
        let Some(password) = password.as_str() else {
            return match password {
                Value::Null => Ok(()),
                _ => Err(format!("{MQTT_DEVICE}.password must be a string")),
            };
        };
        if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&password.len()) {
            return Err(format!(
                "{MQTT_DEVICE}.password must have {MIN_PASSWORD} to {MAX_PASSWORD} bytes"
            ));
        }
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
            .map_err(|e| format!("cannot salt {MQTT_DEVICE}.password: {e}"))?;
        let hash = (argon2::Argon2::default().hash_password(password.as_bytes(), &salt))
            .map_err(|e| format!("cannot hash {MQTT_DEVICE}.password: {e}"))?;
        input.insert("password".into(), hash.to_string().into());
        Ok(())
    }

    /// Fills in the defaults a stored device shows: no topics, enabled.
    pub fn apply_defaults(object: &mut Object) {
        for list in ["publish", "subscribe", "read", "write"] {
            object
                .entry(list)
                .or_insert_with(|| Value::Array(Vec::new()));
        }
        object.entry("isEnabled").or_insert(Value::Bool(true));
    }

    /// Checks a device's properties; the message names the property.
    pub fn validate(object: &Object) -> Result<(), String> {
        let props = Props::new(MQTT_DEVICE, object);
        props.string("name")?;
        let username = props.required_string("username")?;
        props.check(
            is_username(username),
            "username",
            "1 to 128 characters without `/`, `+`, `#`, `:`, `{`, `}` or NUL",
        )?;
        props.check(
            text(object, "password").is_none_or(|hash| hash.starts_with("$argon2id$")),
            "password",
            "a string",
        )?;
        props.bool("isEnabled")?;
        for list in ["publish", "subscribe"] {
            let filters = object.get(list).and_then(Value::as_array);
            for (i, filter) in filters.into_iter().flatten().enumerate() {
                let filter = (filter.as_str())
                    .ok_or_else(|| format!("{MQTT_DEVICE}.{list}[{i}] must be a topic filter"))?;
                let own = filter.replace(OWN_NAME, username);
                switchyard_topic::validate(&own)
                    .and_then(|()| match own.starts_with("$share/") {
                        true => Err(switchyard_topic::InvalidFilter(
                            "shared subscriptions are not device filters".into(),
                        )),
                        false => Ok(()),
                    })
                    .map_err(|e| {
                        format!("{MQTT_DEVICE}.{list}[{i}] `{filter}` is not a topic filter: {e}")
                    })?;
            }
            props.list(list, "a topic filter", Value::is_string)?;
        }
        for list in ["read", "write"] {
            props.list(list, "`*` or a type name", |v| {
                v.as_str()
                    .is_some_and(|t| t == ALL_TYPES || is_type_name(t))
            })?;
        }
        Ok(())
    }
}

/// In a device's `read` or `write` list: every type of its tenant that is not built in.
const ALL_TYPES: &str = "*";

fn grants(list: &[String], type_name: &str) -> bool {
    list.iter().any(|t| t == type_name || t == ALL_TYPES)
}

/// Whether `name` can be a device's username: it names topics (`{username}`) and comes before
/// the `:` of HTTP Basic credentials.
fn is_username(name: &str) -> bool {
    (1..=MAX_USERNAME).contains(&name.chars().count())
        && !name.contains(['/', '+', '#', ':', '{', '}', '\0'])
        && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn device(properties: Value) -> Object {
        let mut object = properties.as_object().cloned().unwrap_or_default();
        object.insert("type".into(), MQTT_DEVICE.into());
        object.insert("id".into(), "d1".into());
        Device::hash_input(&mut object).unwrap();
        Device::apply_defaults(&mut object);
        object
    }

    #[test]
    fn a_password_is_kept_hashed_and_checked_against_its_hash() {
        let object = device(json!({"username": "alice", "password": "correct horse"}));
        let stored = text(&object, "password").unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("correct horse"));
        let device = Device::of(&object).unwrap();
        assert!(device.verify(b"correct horse"));
        assert!(!device.verify(b"correct horsE"));
        assert!(Device::validate(&object).is_ok());
    }

    #[test]
    fn own_name_stands_in_filters_and_bounds_what_a_device_may_do() {
        let object = device(json!({
            "username": "alice",
            "publish": ["devices/{username}/#"],
            "subscribe": ["commands/{username}/+"],
        }));
        let device = Device::of(&object).unwrap();
        assert!(device.may_publish("devices/alice/temperature"));
        assert!(!device.may_publish("devices/bob/temperature"));
        assert!(device.may_subscribe("commands/alice/reboot"));
        assert!(device.may_subscribe("commands/alice/+"));
        assert!(!device.may_subscribe("commands/+/reboot"));
        assert!(!device.may_subscribe("commands/#"));
    }

    #[test]
    fn bad_devices_are_refused_with_the_property_named() {
        let mut short = json!({"username": "alice", "password": "short"});
        let short = short.as_object_mut().unwrap();
        let refused = Device::hash_input(short).unwrap_err();
        assert!(refused.contains("MQTTDevice.password"), "{refused}");
        let refused = Device::validate(&device(json!({"username": "a/b"}))).unwrap_err();
        assert!(refused.starts_with("MQTTDevice.username"), "{refused}");
        let bad_filter = device(json!({"username": "a", "publish": ["x/#/y"]}));
        let refused = Device::validate(&bad_filter).unwrap_err();
        assert!(refused.starts_with("MQTTDevice.publish[0]"), "{refused}");
        let plain = device(json!({"username": "a"}));
        let mut plain = plain.clone();
        plain.insert("password".into(), "not hashed".into());
        assert!(Device::validate(&plain).is_err());
    }
}
