//! Built-in types and their rules.
//!
//! The host reads these objects to connect brokers and route messages, so a bad value must be
//! refused on write with a message naming the field, not discovered later. Client types are
//! the [`ClientKind`]s the composition root registered; `MessageSubscriber`,
//! `FailedMessage`, `MQTTDevice` and `LifecycleHook` are the host's own. This module also says which properties only the host
//! writes (connection status) and which are never read back (secrets); `props` applies those
//! rules.

use crate::{Error, Object, Result};
use serde_json::Value;
use std::sync::Arc;
use switchyard_model::{
    CLIENT_STATUS, ClientKind, DEVICE_STATUS, Device, FAILED_MESSAGE, Kinds, LIFECYCLE_HOOK,
    LifecycleHook, MESSAGE_SUBSCRIBER, MQTT_DEVICE, Subscriber, schema::Props,
};

/// A type the host itself understands.
#[derive(Clone)]
pub(crate) enum Builtin {
    Client(Arc<dyn ClientKind>),
    MessageSubscriber,
    FailedMessage,
    MqttDevice,
    LifecycleHook,
}

/// The built-in types of one store: the host's own and the registered client kinds.
#[derive(Clone, Default)]
pub(crate) struct Schema {
    pub kinds: Kinds,
}

impl Schema {
    pub(crate) fn builtin(&self, type_name: &str) -> Option<Builtin> {
        match type_name {
            MESSAGE_SUBSCRIBER => Some(Builtin::MessageSubscriber),
            FAILED_MESSAGE => Some(Builtin::FailedMessage),
            MQTT_DEVICE => Some(Builtin::MqttDevice),
            LIFECYCLE_HOOK => Some(Builtin::LifecycleHook),
            _ => self.kinds.of(type_name).cloned().map(Builtin::Client),
        }
    }

    /// Every built-in type name.
    pub(crate) fn builtin_names(&self) -> Vec<&'static str> {
        let mut names = vec![
            MESSAGE_SUBSCRIBER,
            FAILED_MESSAGE,
            MQTT_DEVICE,
            LIFECYCLE_HOOK,
        ];
        names.extend(self.kinds.type_names());
        names
    }

    /// Whether objects of this type have host-maintained properties.
    pub(crate) fn has_status(&self, type_name: &str) -> bool {
        type_name == MQTT_DEVICE || self.kinds.of(type_name).is_some()
    }

    /// The property of `type_name` whose values are unique on the server, across tenants.
    pub(crate) fn unique(&self, type_name: &str) -> Option<&'static str> {
        (type_name == MQTT_DEVICE).then_some("username")
    }

    /// Whether `property` of `type_name` is a secret.
    pub(crate) fn is_secret(&self, type_name: &str, property: &str) -> bool {
        self.builtin(type_name)
            .is_some_and(|builtin| builtin.is_write_only(property))
    }

    /// Checks what a subscriber asks of the clients it links to: each must be a client of the
    /// subscriber's tenant (`lookup` sees no other), and the topic one each of them can follow
    /// (Kafka topic names have no levels). A link the subscriber had `before` this write to a
    /// client deleted since stays (it routes nothing). `lookup` reads a linked object as the
    /// writing transaction sees it.
    pub(crate) fn check_links(
        &self,
        object: &Object,
        before: Option<&Object>,
        lookup: impl Fn(&str) -> Result<Option<Object>>,
    ) -> Result<()> {
        if switchyard_model::type_of(object) != MESSAGE_SUBSCRIBER {
            return Ok(());
        }
        let topic = switchyard_model::text(object, "topic").unwrap_or_default();
        for client in linked(object) {
            let kind = lookup(client)?
                .and_then(|linked| self.kinds.of(switchyard_model::type_of(&linked)));
            let had = |old: &Object| linked(old).any(|linked| linked == client);
            let Some(kind) = kind else {
                if before.is_some_and(had) {
                    continue;
                }
                return Err(Error::Invalid(format!(
                    "{MESSAGE_SUBSCRIBER}.clients names `{client}`, which is not a client"
                )));
            };
            if let Err(why) = kind.check_filter(topic) {
                return Err(Error::Invalid(format!(
                    "{MESSAGE_SUBSCRIBER}.topic cannot be followed by {} `{client}`: {why}",
                    kind.type_name()
                )));
            }
        }
        Ok(())
    }
}

/// The client ids a subscriber links to.
fn linked(subscriber: &Object) -> impl Iterator<Item = &str> {
    let clients = subscriber.get("clients").and_then(Value::as_array);
    clients.into_iter().flatten().filter_map(Value::as_str)
}

impl Builtin {
    /// Host-maintained properties with their initial values; users cannot write them.
    pub(crate) fn read_only(&self) -> &'static [(&'static str, Value)] {
        match self {
            Builtin::Client(_) => &CLIENT_STATUS,
            Builtin::MqttDevice => &DEVICE_STATUS,
            _ => &[],
        }
    }

    pub(crate) fn is_read_only(&self, prop: &str) -> bool {
        self.read_only().iter().any(|(name, _)| *name == prop)
    }

    /// Secrets: accepted on write, never returned by reads.
    pub(crate) fn is_write_only(&self, prop: &str) -> bool {
        match self {
            Builtin::Client(kind) => kind.is_secret(prop),
            Builtin::MqttDevice => prop == "password",
            _ => false,
        }
    }

    /// Turns user input into what is stored where the two differ: a device's password into
    /// its hash.
    pub(crate) fn prepare_input(&self, input: &mut Object) -> Result<()> {
        match self {
            Builtin::MqttDevice => Device::hash_input(input).map_err(Error::Invalid),
            _ => Ok(()),
        }
    }

    /// Fills in documented defaults for properties the object lacks.
    pub(crate) fn apply_defaults(&self, object: &mut Object) {
        match self {
            Builtin::Client(kind) => kind.apply_defaults(object),
            Builtin::MessageSubscriber => Subscriber::apply_defaults(object),
            Builtin::MqttDevice => Device::apply_defaults(object),
            Builtin::LifecycleHook => LifecycleHook::apply_defaults(object),
            Builtin::FailedMessage => {}
        }
    }

    /// Checks the user-writable properties of a complete object (after merging and defaults).
    pub(crate) fn validate(&self, object: &Object) -> Result<()> {
        match self {
            Builtin::Client(kind) => Props::new(kind.type_name(), object)
                .string("name")
                .and_then(|()| kind.validate(object)),
            Builtin::MessageSubscriber => Subscriber::validate(object),
            Builtin::MqttDevice => Device::validate(object),
            Builtin::LifecycleHook => LifecycleHook::validate(object),
            Builtin::FailedMessage => Ok(()),
        }
        .map_err(Error::Invalid)
    }
}

/// Checks type names: they end up in index keys and URLs, so they are kept to a safe alphabet.
pub fn validate_type_name(name: &str) -> Result<()> {
    if switchyard_model::schema::is_type_name(name) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid type name `{name}`: it must start with a letter and have at most 64 letters, digits or `_`"
        )))
    }
}
