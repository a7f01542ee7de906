//! Retained messages: the last retained message of each topic, per tenant, kept in the store's
//! `mqtt-retained` space (written before the publisher's acknowledgement) and in memory for
//! new subscriptions.

use crate::router::Message;
use bytes::Bytes;
use parking_lot::RwLock;
use rumqttd::protocol::{QoS, qos};
use std::collections::HashMap;
use std::sync::Arc;
use switchyard_store::{Space, Store};

const SPACE: &str = "mqtt-retained";
/// Between the tenant and the topic in a key: neither may contain it.
const SEPARATOR: char = '\0';

pub(crate) struct Retained {
    space: Space,
    topics: RwLock<HashMap<String, HashMap<String, Arc<Message>>>>,
}

impl Retained {
    /// Loads what the store keeps.
    pub fn open(store: &Store) -> switchyard_store::Result<Retained> {
        let space = store.space(SPACE);
        let mut topics: HashMap<String, HashMap<String, Arc<Message>>> = HashMap::new();
        for (key, value) in space.list("")? {
            let Some((tenant, topic)) = key.split_once(SEPARATOR) else {
                continue;
            };
            let Some((&level, payload)) = value.split_first() else {
                continue;
            };
            let message = Message {
                topic: topic.to_owned(),
                payload: Bytes::copy_from_slice(payload),
                qos: qos(level).unwrap_or(QoS::AtMostOnce),
                retain: true,
                properties: Vec::new(),
                publisher: None,
            };
            (topics.entry(tenant.to_owned()).or_default()).insert(topic.to_owned(), message.into());
        }
        Ok(Retained {
            space,
            topics: RwLock::new(topics),
        })
    }

    /// Keeps `message` as its topic's retained message, or forgets the topic's retained
    /// message if the payload is empty; durable when the returned write resolves.
    pub fn set(
        &self,
        tenant: &str,
        message: &Arc<Message>,
    ) -> impl Future<Output = switchyard_store::Result<()>> + Send + 'static {
        let key = format!("{tenant}{SEPARATOR}{}", message.topic);
        let value = if message.payload.is_empty() {
            (self.topics.write().get_mut(tenant)).and_then(|t| t.remove(&message.topic));
            None
        } else {
            let mut kept = Message::clone(message);
            kept.retain = true;
            (self.topics.write().entry(tenant.to_owned()).or_default())
                .insert(message.topic.clone(), kept.into());
            let mut value = Vec::with_capacity(message.payload.len() + 1);
            value.push(message.qos as u8);
            value.extend_from_slice(&message.payload);
            Some(value)
        };
        crate::blocking::write(
            self.space.clone(),
            "keeping a retained message",
            vec![(key, value)],
        )
    }

    /// The retained messages of `tenant` whose topics match `filter`.
    pub fn matching(&self, tenant: &str, filter: &str) -> Vec<Arc<Message>> {
        let topics = self.topics.read();
        let Some(topics) = topics.get(tenant) else {
            return Vec::new();
        };
        (topics.values())
            .filter(|m| switchyard_topic::matches(filter, &m.topic))
            .cloned()
            .collect()
    }
}
