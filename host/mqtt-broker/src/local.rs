//! In-process sessions: how Switchyard's own `embedded` clients use the broker, without a
//! socket, credentials or a client id a device could take over. What their subscriptions match
//! goes to their [`Sink`], which holds a message's [`Ack`](crate::Ack) until it is safe.

use crate::Shared;
use crate::ack::Ack;
use crate::router::{Message, SessionId, Sink, Via};
use bytes::Bytes;
use rumqttd::protocol::QoS;
use std::sync::Arc;

/// One in-process session; its subscriptions end with it.
pub struct LocalSession {
    shared: Arc<Shared>,
    tenant: String,
    session: SessionId,
    sink: Arc<dyn Sink>,
}

impl LocalSession {
    pub(crate) fn new(shared: Arc<Shared>, tenant: &str, sink: Arc<dyn Sink>) -> LocalSession {
        LocalSession {
            shared,
            tenant: tenant.to_owned(),
            session: SessionId::next(),
            sink,
        }
    }

    /// Subscribes to `filter` (MQTT syntax) at `qos`; the retained messages it matches are
    /// delivered right away.
    pub fn subscribe(&self, filter: &str, qos: QoS) -> Result<(), crate::Error> {
        if !rumqttd::protocol::valid_filter(filter) {
            return Err(crate::Error::InvalidFilter(filter.to_owned()));
        }
        let router = &self.shared.router;
        router.subscribe(&self.tenant, self.session, filter, qos, &self.sink);
        for message in self.shared.retained.matching(&self.tenant, filter) {
            let qos = qos.min(message.qos);
            self.sink
                .deliver(&message, qos, &Via::Retained, &Ack::none());
        }
        Ok(())
    }

    pub fn unsubscribe(&self, filter: &str) {
        (self.shared.router).unsubscribe(&self.tenant, self.session, filter);
    }

    /// Publishes in the session's tenant. It does not wait for other in-process sessions to
    /// keep the message: a callback publishing to a topic its own client subscribes to would
    /// otherwise wait for itself.
    pub fn publish(&self, topic: &str, payload: Bytes, qos: QoS) {
        let message = Arc::new(Message {
            topic: topic.to_owned(),
            payload,
            qos,
            retain: false,
            properties: Vec::new(),
            publisher: None,
        });
        self.shared
            .router
            .route(&self.tenant, &message, &Ack::none());
    }
}

impl Drop for LocalSession {
    fn drop(&mut self) {
        self.shared
            .router
            .remove_session(&self.tenant, self.session);
    }
}
