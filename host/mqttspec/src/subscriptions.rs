//! Live change subscriptions over MQTT: after `subscribe`, the notices of a change feed
//! (`switchyard-changes`: the type's creates, updates and deletes in the client's tenant that
//! match the filters, in commit order) are published to
//! `<prefix>/{client_id}/notify/{subscription_id}` as `{type: "notification", operation,
//! subscription_id, entity, data}`, one at a time, at the client's QoS. A feed that could not
//! keep up says `missed`, and so does the notification that follows.

use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_broker::Brokers;
use switchyard_changes::{Feeds, Receiver, Wanted};
use switchyard_store::Filter;

/// Subscriptions one requester may hold on one client.
pub const PER_REQUESTER: usize = 32;

/// Where one requester of one client is answered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requester {
    pub tenant: String,
    /// The `MQTTClient` the requests came through.
    pub client: String,
    /// The `{client_id}` level of its topics.
    pub id: String,
}

impl Requester {
    /// Who holds its feeds.
    fn owner(&self) -> String {
        format!("mqtt:{}:{}:{}", self.tenant, self.client, self.id)
    }
}

/// The live subscriptions of this instance.
pub struct Subscriptions {
    feeds: Arc<Feeds>,
    brokers: Brokers,
}

impl Subscriptions {
    pub fn new(feeds: Arc<Feeds>, brokers: Brokers) -> Arc<Subscriptions> {
        Arc::new(Subscriptions { feeds, brokers })
    }

    /// Starts a subscription to `entity`'s changes matching `filters`; its id and the topic
    /// its notifications go to.
    pub fn subscribe(
        &self,
        prefix: &str,
        requester: Requester,
        entity: &str,
        filters: Vec<Filter>,
    ) -> Result<(String, String), crate::envelope::Failure> {
        use crate::envelope::{Code, Failure};
        let owner = requester.owner();
        if self.feeds.held_by(&owner) >= PER_REQUESTER {
            return Err(Failure::new(
                Code::Quota,
                format!(
                    "a client may hold {PER_REQUESTER} change subscriptions at once; unsubscribe one first"
                ),
            ));
        }
        let receiver = self.feeds.open(Wanted {
            tenant: requester.tenant.clone(),
            entity: entity.to_owned(),
            filters,
            owner,
            after: None,
        })?;
        let id = receiver.id.clone();
        let topic = format!("{prefix}/{}/notify/{id}", requester.id);
        let brokers = self.brokers.in_tenant(&requester.tenant);
        let sent = Sent {
            client: requester.client,
            topic: topic.clone(),
            entity: entity.to_owned(),
        };
        tokio::spawn(publish(brokers, sent, receiver));
        Ok((id, topic))
    }

    /// Ends the requester's subscription `id`; whether it had one.
    pub fn unsubscribe(&self, requester: &Requester, id: &str) -> bool {
        self.feeds.close(&requester.owner(), id)
    }

    /// Ends every subscription of a requester whose session ended.
    pub fn end(&self, tenant: &str, client: &str, requester: &str) {
        let requester = Requester {
            tenant: tenant.to_owned(),
            client: client.to_owned(),
            id: requester.to_owned(),
        };
        self.feeds.close_all(&requester.owner());
    }
}

/// Where one subscription's notifications go.
struct Sent {
    client: String,
    topic: String,
    entity: String,
}

/// Publishes one subscription's notifications in order until it ends.
async fn publish(brokers: Brokers, sent: Sent, mut receiver: Receiver) {
    while let Some(notice) = receiver.next().await {
        let notification = json!({
            "type": "notification",
            "operation": notice.operation,
            "subscription_id": receiver.id,
            "entity": sent.entity,
            "data": notice.data,
        });
        let payload = Value::to_string(&notification).into_bytes();
        if let Err(e) = brokers.publish(&sent.client, &sent.topic, payload).await {
            let (client, topic) = (&sent.client, &sent.topic);
            tracing::warn!(%client, %topic, "a notification could not be sent: {e}");
        }
    }
}
