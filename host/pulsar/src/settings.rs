//! What a `PulsarClient` object asks for.

use pulsar::SubType;
use serde_json::Value;
use switchyard_broker::Wanted;
use switchyard_store::Object;

/// The connection-relevant properties of an enabled `PulsarClient`.
#[derive(Clone, PartialEq)]
pub struct Settings {
    /// Service URLs, tried in turn until one connects.
    pub(crate) servers: Vec<String>,
    pub(crate) subscription: String,
    pub(crate) kind: SubType,
    /// A JWT for token authentication: a secret.
    pub(crate) token: Option<String>,
}

impl std::fmt::Debug for Settings {
    /// Without the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("servers", &self.servers)
            .field("subscription", &self.subscription)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Reads what the object (with its secrets; validated by the store) asks for.
pub(crate) fn wanted(object: &Object) -> Wanted<Settings> {
    if object.get("isEnabled") != Some(&Value::Bool(true)) {
        return Wanted::Off;
    }
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let servers: Vec<String> = (object.get("servers").and_then(Value::as_array))
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if servers.is_empty() {
        return Wanted::Invalid("PulsarClient.servers is empty".into());
    }
    let id = text("id").unwrap_or_default();
    let kind = match text("subscriptionType").unwrap_or("Shared") {
        "Exclusive" => SubType::Exclusive,
        "Failover" => SubType::Failover,
        "KeyShared" => SubType::KeyShared,
        _ => SubType::Shared,
    };
    Wanted::On(Settings {
        servers,
        subscription: text("subscription")
            .map_or_else(|| format!("switchyard-{id}"), str::to_owned),
        kind,
        token: ["token", "authToken"]
            .into_iter()
            .find_map(text)
            .map(str::to_owned),
    })
}
