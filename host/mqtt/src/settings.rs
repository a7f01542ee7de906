//! What a connection needs from its `MQTTClient` object. Two objects with equal [`Settings`] need
//! the same connection, so changes to anything else (name, status) leave a connection alone.

use rumqttc::QoS;
use serde_json::Value;
use switchyard_store::Object;

use crate::endpoint::Endpoint;
use crate::wire::Version;
/// Largest packet in either direction, for Switchyard's clients and its embedded broker.
pub const MAX_PACKET: usize = 10 << 20;
/// Bytes of a PUBLISH packet besides topic and payload, at most: fixed header with the
/// longest length encoding, topic length, packet id.
pub(crate) const PUBLISH_OVERHEAD: usize = 1 + 4 + 2 + 2;
/// Requests (publishes, acks, subscriptions) waiting for the event loop. flume allocates as the
/// queue fills, so a generous bound costs nothing while idle.
pub(crate) const REQUEST_CAPACITY: usize = 1024;

type Wanted = switchyard_broker::Wanted<Settings>;

/// The connection-relevant properties of an enabled client.
#[derive(Clone, PartialEq)]
pub struct Settings {
    /// The main broker first, then the fallbacks in order; none for the embedded broker.
    pub(crate) endpoints: Vec<Endpoint>,
    username: Option<String>,
    password: Option<String>,
    pub(crate) qos: QoS,
    client_id: String,
    clean_session: bool,
    /// The MQTT version spoken to an external broker.
    pub(crate) version: Version,
    /// Subscribes as a member of this shared subscription group (`$share/<group>/<filter>`):
    /// every instance sharing the store runs the client, the broker splitting its messages.
    share_group: Option<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("endpoints", &self.endpoints)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("qos", &self.qos)
            .field("client_id", &self.client_id)
            .field("clean_session", &self.clean_session)
            .field("version", &self.version)
            .field("share_group", &self.share_group)
            .finish()
    }
}

impl Settings {
    /// Whether the client is an in-process session of the embedded broker.
    pub(crate) fn is_embedded(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// The client's QoS, as the embedded broker takes it.
    pub(crate) fn qos_level(&self) -> switchyard_mqtt_broker::QoS {
        match self.qos {
            QoS::AtMostOnce => switchyard_mqtt_broker::QoS::AtMostOnce,
            QoS::AtLeastOnce => switchyard_mqtt_broker::QoS::AtLeastOnce,
            QoS::ExactlyOnce => switchyard_mqtt_broker::QoS::ExactlyOnce,
        }
    }

    /// Whether every instance sharing the store may run the client at once: a client of
    /// the embedded broker (each instance's own devices) or a member of a share group.
    pub(crate) fn shared(&self) -> bool {
        self.is_embedded() || self.share_group.is_some()
    }

    /// Whether a dead instance's session of this client is worth adopting: a share group's
    /// member at an external broker that keeps its session (and queues its share) while it is
    /// away.
    pub(crate) fn adoptable(&self) -> bool {
        self.share_group.is_some() && !self.clean_session && !self.is_embedded()
    }

    /// These settings with a clean session: connecting so ends a kept session.
    pub(crate) fn clean(&self) -> Settings {
        Settings {
            clean_session: true,
            ..self.clone()
        }
    }

    /// The client id this instance connects with: a share group's members each need their
    /// own, so `instance` (this instance's id) tells them apart.
    pub(crate) fn session_id(&self, instance: &str) -> String {
        match &self.share_group {
            Some(_) => {
                let tail = &instance[instance.len().saturating_sub(12)..];
                format!("{}-{tail}", self.client_id)
            }
            None => self.client_id.clone(),
        }
    }

    /// What the client puts before a subscriber's filter when it subscribes: its share
    /// group's `$share/<group>/`, if any.
    pub(crate) fn filter_prefix(&self) -> String {
        (self.share_group.as_ref()).map_or_else(String::new, |group| format!("$share/{group}/"))
    }

    pub(crate) fn clean_session(&self) -> bool {
        self.clean_session
    }

    /// The username and password to connect with, if there is a username.
    pub(crate) fn credentials(&self) -> Option<(String, String)> {
        let username = self.username.clone()?;
        Some((username, self.password.clone().unwrap_or_default()))
    }
}

/// Reads what the client object `id` (read with its secrets) asks for.
pub(crate) fn wanted(id: &str, object: &Object, embedded: bool) -> Wanted {
    match boolean(object, "isEnabled", false) {
        Ok(false) => Wanted::Off,
        Ok(true) => match settings(id, object, embedded) {
            Ok(settings) => Wanted::On(settings),
            Err(message) => Wanted::Invalid(message),
        },
        Err(message) => Wanted::Invalid(message),
    }
}

fn settings(id: &str, object: &Object, embedded: bool) -> Result<Settings, String> {
    let main = string(object, "mainBrokerURL")?.ok_or("mainBrokerURL is required")?;
    let mut endpoints = Vec::new();
    if Endpoint::is_embedded(&main) {
        if !embedded {
            return Err("mainBrokerURL: `embedded` needs the embedded broker, which is off in this server (--mqtt off)".into());
        }
    } else {
        endpoints.push(Endpoint::parse(&main).map_err(|e| format!("mainBrokerURL: {e}"))?);
    }
    match object.get("fallbackBrokerURLs") {
        None | Some(Value::Null) => {}
        Some(Value::Array(urls)) if endpoints.is_empty() && !urls.is_empty() => {
            return Err(
                "fallbackBrokerURLs: a client of the embedded broker has no fallbacks".into(),
            );
        }
        Some(Value::Array(urls)) => {
            for (i, url) in urls.iter().enumerate() {
                let url = url
                    .as_str()
                    .ok_or_else(|| format!("fallbackBrokerURLs[{i}] must be a string"))?;
                endpoints.push(
                    Endpoint::parse(url).map_err(|e| format!("fallbackBrokerURLs[{i}]: {e}"))?,
                );
            }
        }
        Some(_) => return Err("fallbackBrokerURLs must be a list of URLs".into()),
    }
    let username = string(object, "username")?.filter(|u| !u.is_empty());
    let password = string(object, "password")?.filter(|p| !p.is_empty());
    if username.is_none() && password.is_some() {
        return Err(
            "password is set but username is not (MQTT sends a password only with a username)"
                .into(),
        );
    }
    let qos = match object.get("qos") {
        None | Some(Value::Null) => QoS::AtMostOnce,
        Some(value) => match value.as_u64() {
            Some(0) => QoS::AtMostOnce,
            Some(1) => QoS::AtLeastOnce,
            Some(2) => QoS::ExactlyOnce,
            _ => return Err(format!("qos must be 0, 1 or 2, not {value}")),
        },
    };
    let client_id = string(object, "clientId")?
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| format!("switchyard-{id}"));
    let version = match object.get("protocolVersion") {
        None | Some(Value::Null) => Version::V4,
        Some(value) => match value.as_u64() {
            Some(4) => Version::V4,
            Some(5) => Version::V5,
            _ => {
                return Err(format!(
                    "protocolVersion must be 4 (MQTT 3.1.1) or 5, not {value}"
                ));
            }
        },
    };
    let share_group = string(object, "shareGroup")?.filter(|g| !g.is_empty());
    if share_group.is_some() && endpoints.is_empty() {
        return Err(
            "shareGroup: the embedded broker's clients run on every instance already, each for \
             its own devices; shareGroup is for external brokers"
                .into(),
        );
    }
    Ok(Settings {
        endpoints,
        username,
        password,
        qos,
        client_id,
        clean_session: boolean(object, "cleanSession", true)?,
        version,
        share_group,
    })
}

fn string(object: &Object, field: &str) -> Result<Option<String>, String> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{field} must be a string")),
    }
}

fn boolean(object: &Object, field: &str, default: bool) -> Result<bool, String> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{field} must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wanted_of(value: Value) -> Wanted {
        let Value::Object(object) = value else {
            unreachable!()
        };
        wanted("abc", &object, false)
    }

    #[test]
    fn defaults_apply_to_an_enabled_client() {
        let Wanted::On(settings) =
            wanted_of(json!({"isEnabled": true, "mainBrokerURL": "mqtt://b"}))
        else {
            panic!("expected settings")
        };
        assert_eq!(settings.client_id, "switchyard-abc");
        assert_eq!(settings.qos, QoS::AtMostOnce);
        assert!(settings.clean_session);
    }

    #[test]
    fn disabled_clients_are_off_whatever_else_they_hold() {
        assert!(matches!(
            wanted_of(json!({"mainBrokerURL": "nope"})),
            Wanted::Off
        ));
    }

    #[test]
    fn invalid_properties_are_named() {
        let message = |value| match wanted_of(value) {
            Wanted::Invalid(m) => m,
            _ => panic!("expected invalid"),
        };
        let m = message(json!({"isEnabled": true, "mainBrokerURL": "mqtt://b", "qos": 3}));
        assert!(m.starts_with("qos"), "{m}");
        let m = message(
            json!({"isEnabled": true, "mainBrokerURL": "mqtt://b", "fallbackBrokerURLs": ["ftp://x"]}),
        );
        assert!(m.starts_with("fallbackBrokerURLs[0]"), "{m}");
    }

    #[test]
    fn embedded_needs_the_embedded_broker_and_has_no_fallbacks() {
        let Value::Object(object) = json!({"isEnabled": true, "mainBrokerURL": "embedded"}) else {
            unreachable!()
        };
        let Wanted::Invalid(m) = wanted("abc", &object, false) else {
            panic!("expected invalid")
        };
        assert!(m.contains("embedded broker"), "{m}");
        let Wanted::On(settings) = wanted("abc", &object, true) else {
            panic!("expected settings")
        };
        assert!(settings.is_embedded());
        let Value::Object(object) = json!({"isEnabled": true, "mainBrokerURL": "embedded",
            "fallbackBrokerURLs": ["mqtt://b"]})
        else {
            unreachable!()
        };
        assert!(matches!(wanted("abc", &object, true), Wanted::Invalid(_)));
    }

    #[test]
    fn debug_output_hides_the_password() {
        let Wanted::On(settings) = wanted_of(json!({
            "isEnabled": true, "mainBrokerURL": "mqtt://b", "username": "u", "password": "hunter2"
        })) else {
            panic!("expected settings")
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
