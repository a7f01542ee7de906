//! Built-in types and their validation.
//!
//! The host reads these objects to connect brokers and route messages, so a bad value must be
//! refused on write with a message naming the field, not discovered later. This module also
//! says which properties only the host writes (connection status) and which are never read
//! back (secrets); `props` applies those rules.

use crate::{Error, Object, Result};
use serde_json::Value;

/// The types the host itself understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    MqttClient,
    KafkaClient,
    PulsarClient,
    MessageSubscriber,
    FailedMessage,
}

impl Builtin {
    /// How many built-in types there are (for tables indexed by `Builtin as usize`).
    pub(crate) const COUNT: usize = 5;
}

/// Connection status the host maintains on client objects, with its value before connecting.
const CLIENT_STATUS: &[(&str, Value)] = &[
    ("isConnected", Value::Bool(false)),
    ("lastError", Value::Null),
];

const MQTT_SCHEMES: &[&str] = &["mqtt", "tcp", "mqtts", "ws", "wss"];
const PULSAR_SCHEMES: &[&str] = &["pulsar", "pulsar+ssl"];
const PULSAR_SUBSCRIPTION_TYPES: &[&str] = &["Exclusive", "Shared", "Failover", "KeyShared"];

impl Builtin {
    pub(crate) fn of(type_name: &str) -> Option<Builtin> {
        Some(match type_name {
            "MQTTClient" => Builtin::MqttClient,
            "KafkaClient" => Builtin::KafkaClient,
            "PulsarClient" => Builtin::PulsarClient,
            "MessageSubscriber" => Builtin::MessageSubscriber,
            "FailedMessage" => Builtin::FailedMessage,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Builtin::MqttClient => "MQTTClient",
            Builtin::KafkaClient => "KafkaClient",
            Builtin::PulsarClient => "PulsarClient",
            Builtin::MessageSubscriber => "MessageSubscriber",
            Builtin::FailedMessage => "FailedMessage",
        }
    }

    fn is_client(self) -> bool {
        matches!(
            self,
            Builtin::MqttClient | Builtin::KafkaClient | Builtin::PulsarClient
        )
    }

    /// Host-maintained properties with their initial values; users cannot write them.
    pub(crate) fn read_only(self) -> &'static [(&'static str, Value)] {
        if self.is_client() { CLIENT_STATUS } else { &[] }
    }

    pub(crate) fn is_read_only(self, prop: &str) -> bool {
        self.read_only().iter().any(|(name, _)| *name == prop)
    }

    /// Secrets: accepted on write, never returned by reads. Covers `password` and
    /// librdkafka-style `sasl.password` / `ssl.key.password`, plus Pulsar tokens.
    pub(crate) fn is_write_only(self, prop: &str) -> bool {
        self.is_client()
            && (matches!(prop, "password" | "token" | "authToken") || prop.ends_with(".password"))
    }

    /// Fills in documented defaults for properties the object lacks.
    pub(crate) fn apply_defaults(self, object: &mut Object) {
        let mut default = |prop: &str, value: Value| {
            object.entry(prop).or_insert(value);
        };
        match self {
            Builtin::MqttClient => {
                default("qos", Value::from(0));
                default("cleanSession", Value::Bool(true));
                default("isEnabled", Value::Bool(false));
            }
            Builtin::KafkaClient => {
                default("isEnabled", Value::Bool(false));
                default("startOffset", Value::from("earliest"));
            }
            Builtin::PulsarClient => default("isEnabled", Value::Bool(false)),
            Builtin::MessageSubscriber => default("clients", Value::Array(Vec::new())),
            Builtin::FailedMessage => {}
        }
    }

    /// Checks the user-writable properties of a complete object (after merging and defaults).
    pub(crate) fn validate(self, object: &Object) -> Result<()> {
        let props = Props {
            type_name: self.name(),
            object,
        };
        if self.is_client() {
            props.string("name")?;
        }
        match self {
            Builtin::MqttClient => {
                let url = props.required_string("mainBrokerURL")?;
                props.check(is_mqtt_url(url), "mainBrokerURL", MQTT_URL_EXPECTED)?;
                props.list("fallbackBrokerURLs", MQTT_URL_EXPECTED, |v| {
                    v.as_str().is_some_and(is_mqtt_url)
                })?;
                for prop in ["username", "password", "clientId"] {
                    props.string(prop)?;
                }
                let qos = props.get("qos");
                props.check(
                    qos.is_none_or(|q| q.as_u64().is_some_and(|q| q <= 2)),
                    "qos",
                    "0, 1 or 2",
                )?;
                props.bool("cleanSession")?;
                props.bool("isEnabled")
            }
            Builtin::KafkaClient => {
                props.servers("a `host:port` string", is_host_port)?;
                props.string("groupId")?;
                props.bool("isEnabled")?;
                let start = props.get("startOffset").and_then(Value::as_str);
                props.check(
                    matches!(start, Some("earliest" | "latest")),
                    "startOffset",
                    "`earliest` or `latest`",
                )?;
                props.kafka_settings()
            }
            Builtin::PulsarClient => {
                props.servers("a `pulsar://` or `pulsar+ssl://` URL with a host", |s| {
                    is_url_with_host(s, PULSAR_SCHEMES)
                })?;
                props.bool("isEnabled")?;
                props.string("subscription")?;
                let kind = props.get("subscriptionType");
                props.check(
                    kind.is_none_or(|k| {
                        k.as_str()
                            .is_some_and(|k| PULSAR_SUBSCRIPTION_TYPES.contains(&k))
                    }),
                    "subscriptionType",
                    "one of Exclusive, Shared, Failover, KeyShared",
                )
            }
            Builtin::MessageSubscriber => {
                props.string("name")?;
                let topic = props.required_string("topic")?;
                switchyard_topic::validate(topic).map_err(|e| {
                    Error::Invalid(format!(
                        "MessageSubscriber.topic `{topic}` is not a valid topic filter: {e}"
                    ))
                })?;
                let callback = props.required_string("callback")?;
                props.check(is_plugin_name(callback), "callback", PLUGIN_NAME_EXPECTED)?;
                props.integer("maxAttempts", 1, MAX_ATTEMPTS)?;
                props.integer("retryDelayMs", 0, MAX_RETRY_DELAY_MS)?;
                props.bool("ordered")?;
                props.list("clients", "a client id string", Value::is_string)
            }
            Builtin::FailedMessage => Ok(()),
        }
    }
}

/// Bounds of a subscriber's retry policy: enough for any sane backoff, not a way to keep a
/// message cycling forever.
const MAX_ATTEMPTS: u64 = 100;
const MAX_RETRY_DELAY_MS: u64 = 24 * 3600 * 1000;

const MQTT_URL_EXPECTED: &str =
    "`embedded` or a URL with scheme mqtt, tcp, mqtts, ws or wss and a host";
const PLUGIN_NAME_EXPECTED: &str = "a plugin name of 1 to 64 letters, digits, `.`, `_` or `-`";

/// Checks type names: they end up in index keys and URLs, so they are kept to a safe alphabet.
pub fn validate_type_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64;
    if valid {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid type name `{name}`: it must start with a letter and have at most 64 letters, digits or `_`"
        )))
    }
}

/// Plugin names become file names and log tags, hence the narrow alphabet.
fn is_plugin_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_mqtt_url(url: &str) -> bool {
    url == "embedded" || is_url_with_host(url, MQTT_SCHEMES)
}

fn is_url_with_host(text: &str, schemes: &[&str]) -> bool {
    url::Url::parse(text).is_ok_and(|url| {
        schemes.contains(&url.scheme()) && url.host_str().is_some_and(|host| !host.is_empty())
    })
}

fn is_host_port(text: &str) -> bool {
    text.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok_and(|p| p > 0)
    })
}

/// One object's properties under validation, so each check names `Type.property`.
struct Props<'a> {
    type_name: &'static str,
    object: &'a Object,
}

impl Props<'_> {
    fn get(&self, prop: &str) -> Option<&Value> {
        self.object.get(prop)
    }

    fn invalid(&self, prop: &str, expected: &str) -> Error {
        Error::Invalid(format!("{}.{prop} must be {expected}", self.type_name))
    }

    fn check(&self, ok: bool, prop: &str, expected: &str) -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(self.invalid(prop, expected))
        }
    }

    fn required_string(&self, prop: &str) -> Result<&str> {
        match self.get(prop) {
            None => Err(Error::Invalid(format!(
                "{}.{prop} is required",
                self.type_name
            ))),
            Some(value) => value.as_str().ok_or_else(|| self.invalid(prop, "a string")),
        }
    }

    fn string(&self, prop: &str) -> Result<()> {
        self.check(
            self.get(prop).is_none_or(Value::is_string),
            prop,
            "a string",
        )
    }

    /// An optional whole number within `min..=max`.
    fn integer(&self, prop: &str, min: u64, max: u64) -> Result<()> {
        self.check(
            self.get(prop)
                .is_none_or(|v| v.as_u64().is_some_and(|n| (min..=max).contains(&n))),
            prop,
            &format!("a whole number from {min} to {max}"),
        )
    }

    fn bool(&self, prop: &str) -> Result<()> {
        self.check(
            self.get(prop).is_none_or(Value::is_boolean),
            prop,
            "true or false",
        )
    }

    /// An optional list whose every element passes `ok`.
    fn list(&self, prop: &str, element: &str, ok: impl Fn(&Value) -> bool) -> Result<()> {
        let Some(value) = self.get(prop) else {
            return Ok(());
        };
        let items = value
            .as_array()
            .ok_or_else(|| self.invalid(prop, &format!("a list, each element {element}")))?;
        match items.iter().position(|item| !ok(item)) {
            None => Ok(()),
            // The bad value is not echoed: broker URLs may carry credentials.
            Some(i) => Err(Error::Invalid(format!(
                "{}.{prop}[{i}] must be {element}",
                self.type_name
            ))),
        }
    }

    /// The required, non-empty `servers` list of broker clients.
    /// librdkafka settings (`security.protocol`, `sasl.*`, `ssl.*`) given as properties with
    /// their dotted names: text only, and nothing else with a dot, so a typo is not ignored.
    fn kafka_settings(&self) -> Result<()> {
        for (key, value) in self.object.iter().filter(|(k, _)| k.contains('.')) {
            let known =
                key == "security.protocol" || key.starts_with("sasl.") || key.starts_with("ssl.");
            if !known {
                return Err(Error::Invalid(format!(
                    "{}.{key} is not a librdkafka setting Switchyard passes on (it passes \
                     security.protocol, sasl.* and ssl.*)",
                    self.type_name
                )));
            }
            if !value.is_string() {
                return Err(self.invalid(key, "a string"));
            }
        }
        Ok(())
    }

    fn servers(&self, element: &str, ok: impl Fn(&str) -> bool) -> Result<()> {
        match self.get("servers") {
            None => Err(Error::Invalid(format!(
                "{}.servers is required",
                self.type_name
            ))),
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

/// Checks what one object asks of the objects it links to: a subscriber's topic must be one
/// its Kafka clients can follow (Kafka topic names have no levels). `lookup` reads a linked
/// object as the writing transaction sees it.
pub(crate) fn check_links(
    object: &Object,
    lookup: impl Fn(&str) -> Result<Option<Object>>,
) -> Result<()> {
    if Builtin::of(crate::record::type_of(object)) != Some(Builtin::MessageSubscriber) {
        return Ok(());
    }
    let topic = object
        .get("topic")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let clients = object.get("clients").and_then(Value::as_array);
    for client in clients.into_iter().flatten().filter_map(Value::as_str) {
        let linked = lookup(client)?;
        let kind = linked
            .as_ref()
            .and_then(|o| o.get("type"))
            .and_then(Value::as_str);
        let followed = match kind {
            Some("KafkaClient") => switchyard_topic::kafka::subscription(topic).map(drop),
            Some("PulsarClient") => switchyard_topic::pulsar::subscription(topic).map(drop),
            _ => Ok(()),
        };
        if let (Err(why), Some(kind)) = (followed, kind) {
            return Err(Error::Invalid(format!(
                "MessageSubscriber.topic cannot be followed by {kind} `{client}`: {}",
                why.0
            )));
        }
    }
    Ok(())
}
