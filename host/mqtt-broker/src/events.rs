//! Connection and subscription events, as messages in the device's tenant namespace: a device
//! `connected` or `disconnected`, `subscribed` to or `unsubscribed` from a filter. Each goes to
//! `$events/<event>/<username>` (`anonymous` for a device without credentials) as a JSON
//! object, so a tenant's subscriber on `$events/#` through an `embedded` client runs a callback
//! for it. Devices cannot publish to `$` topics, so no device can forge one.

use crate::Shared;
use crate::ack::Ack;
use crate::router::Message;
use rumqttd::protocol::QoS;
use serde_json::{Value, json};
use std::sync::Arc;

/// The device an event is about.
pub(crate) struct Who<'a> {
    pub tenant: &'a str,
    pub username: Option<&'a str>,
    pub client_id: &'a str,
}

impl Shared {
    /// Publishes `event` about `who` with `details` (merged into the payload).
    pub(crate) fn event(&self, who: &Who, event: &str, details: Value) {
        let username = who.username.unwrap_or("anonymous");
        let mut payload = json!({
            "event": event,
            "clientId": who.client_id,
            "username": who.username,
            "at": switchyard_store::now(),
        });
        if let (Some(payload), Value::Object(details)) = (payload.as_object_mut(), details) {
            payload.extend(details);
        }
        let message = Arc::new(Message {
            topic: format!("$events/{event}/{username}"),
            payload: payload.to_string().into(),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Vec::new(),
            publisher: None,
        });
        // Nobody waits for an event: what its sessions take is theirs to keep.
        drop(self.router.route(who.tenant, &message, &Ack::none()));
    }
}
