//! What a plugin may touch: the object types it may read and write, the clients and topics it
//! may publish to, and whether it may change a client's subscriptions. Stored with the plugin
//! and set over REST by whoever runs the server, because the person who uploads a plugin is
//! not always that person.
//!
//! Built-in types (clients, subscribers, failed messages) configure the server itself, so no
//! grant lets a plugin write them; reading them must be granted by name, except the subscriber
//! an invocation runs for, which holds the plugin's settings. A refused call is a
//! `denied` error for the guest and a warning in the server log.

use serde::{Deserialize, Serialize};
use switchyard_model::Kinds;

/// Grants every user type in `read` or `write`; built-in types must be named.
pub const ALL_USER_TYPES: &str = "*";

/// A plugin's capabilities. The defaults let a plugin read and write its own (user) types,
/// publish through the client its message came on to any topic, and subscribe that client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Capabilities {
    /// Object types it may read: `*` for every user type, plus built-in types by name.
    pub read: Vec<String>,
    /// Object types it may create, update and delete: `*` or user type names.
    pub write: Vec<String>,
    /// Clients it may publish through, each with the topic filters it may publish to. Absent
    /// (`null`): the client the message came on, any topic.
    pub publish: Option<Vec<PublishGrant>>,
    /// Whether it may subscribe and unsubscribe topics, on the clients it may publish through.
    pub subscribe: bool,
}

/// Publishing through one client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishGrant {
    /// The client's object id or `name`.
    pub client: String,
    /// Topic filters (`+` and `#` wildcards) the plugin may publish to; default `#`.
    #[serde(default = "any_topic")]
    pub topics: Vec<String>,
}

fn any_topic() -> Vec<String> {
    vec!["#".to_owned()]
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            read: vec![ALL_USER_TYPES.to_owned()],
            write: vec![ALL_USER_TYPES.to_owned()],
            publish: None,
            subscribe: true,
        }
    }
}

/// A client as a capability check sees it.
pub(crate) struct ClientName<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
}

impl Capabilities {
    /// Checks what an operator asked for, naming the first thing that cannot be granted.
    pub fn validate(&self, kinds: &Kinds) -> Result<(), String> {
        if let Some(builtin) = self.write.iter().find(|t| kinds.is_builtin(t)) {
            return Err(format!(
                "`{builtin}` is a built-in type: plugins can never create, change or delete it"
            ));
        }
        for name in self.read.iter().chain(&self.write) {
            if name != ALL_USER_TYPES {
                switchyard_store::validate_type_name(name).map_err(|e| e.to_string())?;
            }
        }
        for grant in self.publish.iter().flatten() {
            if grant.client.is_empty() {
                return Err("a publish grant needs a `client` (an id or a name)".into());
            }
            for filter in &grant.topics {
                switchyard_topic::validate(filter).map_err(|e| {
                    format!(
                        "invalid topic filter `{filter}` for `{}`: {e}",
                        grant.client
                    )
                })?;
            }
        }
        Ok(())
    }

    pub(crate) fn may_read(&self, kinds: &Kinds, type_name: &str) -> Result<(), String> {
        type_name_only(type_name)?;
        if granted(kinds, &self.read, type_name) {
            return Ok(());
        }
        Err(format!(
            "this plugin may not read objects of type {type_name}"
        ))
    }

    pub(crate) fn may_write(&self, kinds: &Kinds, type_name: &str) -> Result<(), String> {
        type_name_only(type_name)?;
        if kinds.is_builtin(type_name) {
            return Err(format!(
                "{type_name} is a built-in type; plugins cannot create, change or delete it"
            ));
        }
        if granted(kinds, &self.write, type_name) {
            return Ok(());
        }
        Err(format!(
            "this plugin may not write objects of type {type_name}"
        ))
    }

    /// Whether `topic` may be published through `client`; `origin` is the client the message
    /// came on.
    pub(crate) fn may_publish(
        &self,
        client: &ClientName,
        topic: &str,
        origin: &str,
    ) -> Result<(), String> {
        let Some(grants) = &self.publish else {
            if client.id == origin {
                return Ok(());
            }
            return Err(format!(
                "this plugin may publish only through the client its message came on, not `{}`",
                client.id
            ));
        };
        let grant = grants
            .iter()
            .find(|g| client.is(&g.client))
            .ok_or_else(|| format!("this plugin may not publish through client `{}`", client.id))?;
        if grant
            .topics
            .iter()
            .any(|f| switchyard_topic::matches(f, topic))
        {
            return Ok(());
        }
        Err(format!(
            "this plugin may not publish to `{topic}` through client `{}` (allowed: {})",
            client.id,
            grant.topics.join(", ")
        ))
    }

    pub(crate) fn may_subscribe(&self, client: &ClientName, origin: &str) -> Result<(), String> {
        if !self.subscribe {
            return Err("this plugin may not subscribe or unsubscribe topics".into());
        }
        let allowed = match &self.publish {
            None => client.id == origin,
            Some(grants) => grants.iter().any(|g| client.is(&g.client)),
        };
        if allowed {
            return Ok(());
        }
        Err(format!(
            "this plugin may not change the subscriptions of client `{}`",
            client.id
        ))
    }
}

impl ClientName<'_> {
    fn is(&self, reference: &str) -> bool {
        self.id == reference || self.name == Some(reference)
    }
}

/// Refuses what is not a type name (a separator, a tenant's prefix): no grant covers it, so a
/// plugin cannot name its way out of its tenant.
fn type_name_only(type_name: &str) -> Result<(), String> {
    switchyard_store::validate_type_name(type_name).map_err(|e| e.to_string())
}

fn granted(kinds: &Kinds, list: &[String], type_name: &str) -> bool {
    list.iter().any(|t| t == type_name)
        || (!kinds.is_builtin(type_name) && list.iter().any(|t| t == ALL_USER_TYPES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client<'a>(id: &'a str, name: &'a str) -> ClientName<'a> {
        ClientName {
            id,
            name: Some(name),
        }
    }

    #[test]
    fn defaults_keep_plugins_to_user_types_and_their_own_client() {
        let caps = Capabilities::default();
        assert!(caps.may_read(&Kinds::default(), "Reading").is_ok());
        assert!(caps.may_write(&Kinds::default(), "Reading").is_ok());
        assert!(
            caps.may_read(&Kinds::default(), "FailedMessage")
                .unwrap_err()
                .contains("may not read")
        );
        assert!(
            caps.may_write(&Kinds::default(), "MessageSubscriber")
                .unwrap_err()
                .contains("built-in")
        );
        assert!(caps.may_publish(&client("c1", "a"), "x/y", "c1").is_ok());
        assert!(caps.may_publish(&client("c2", "b"), "x/y", "c1").is_err());
        assert!(caps.may_subscribe(&client("c1", "a"), "c1").is_ok());
    }

    #[test]
    fn grants_name_clients_by_id_or_name_and_limit_topics() {
        let caps: Capabilities = serde_json::from_value(json!({
            "read": ["Reading", "FailedMessage"],
            "write": [],
            "publish": [{"client": "alerts", "topics": ["alerts/#"]}],
            "subscribe": false
        }))
        .unwrap();
        caps.validate(&Kinds::default()).unwrap();
        assert!(caps.may_read(&Kinds::default(), "FailedMessage").is_ok());
        assert!(caps.may_read(&Kinds::default(), "Other").is_err());
        assert!(caps.may_write(&Kinds::default(), "Reading").is_err());
        assert!(
            caps.may_publish(&client("c9", "alerts"), "alerts/t1", "c1")
                .is_ok()
        );
        let denied = caps
            .may_publish(&client("c9", "alerts"), "cmd/t1", "c1")
            .unwrap_err();
        assert!(denied.contains("alerts/#"), "{denied}");
        assert!(
            caps.may_publish(&client("c1", "main"), "alerts/t1", "c1")
                .is_err()
        );
        assert!(caps.may_subscribe(&client("c9", "alerts"), "c1").is_err());
    }

    #[test]
    fn built_in_types_cannot_be_granted_for_writing() {
        let caps = Capabilities {
            write: vec!["FailedMessage".into()],
            ..Capabilities::default()
        };
        assert!(
            caps.validate(&Kinds::default())
                .unwrap_err()
                .contains("built-in")
        );
        let unknown = serde_json::from_value::<Capabilities>(json!({"admin": true}));
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("unknown field `admin`")
        );
    }
}
