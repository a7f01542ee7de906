//! MQTT as a broker kind of the shared connection manager: how an `MQTTClient` object's
//! settings are read and how a connection is opened, (un)subscribed and published through.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use switchyard_broker::{BoxFuture, Broker, Inbound, Manager, Wanted};
use switchyard_store::{Object, Store};

use crate::connection::Connection;
use crate::settings::{self, Settings};
use crate::{Error, Result};

/// The connections of all `MQTTClient` objects. Topics added with `Outbound::subscribe` are
/// kept in memory for the life of that connection (re-subscribed after a reconnect) and are
/// gone once the client is disabled, reconfigured or the server restarts; subscribers' topics
/// are always restored.
pub type MqttClients = Manager<MqttBroker>;

/// `MQTTClient` connections through rumqttc.
pub struct MqttBroker {
    /// Where the embedded broker listens, for `embedded` URLs.
    embedded: Option<SocketAddr>,
}

impl MqttBroker {
    /// `embedded` is the embedded broker's address, or `None` when it is off.
    pub fn new(embedded: Option<SocketAddr>) -> MqttBroker {
        MqttBroker { embedded }
    }
}

impl Broker for MqttBroker {
    type Settings = Settings;
    type Connection = Connection;

    fn client_type(&self) -> &'static str {
        crate::MQTT_CLIENT
    }

    fn wanted(&self, id: &str, object: &Object) -> Wanted<Settings> {
        settings::wanted(id, object, self.embedded)
    }

    fn connect(
        &self,
        store: &Store,
        id: &str,
        settings: Settings,
        inbound: Arc<dyn Inbound>,
        filters: BTreeSet<String>,
    ) -> anyhow::Result<Connection> {
        let filters = filters
            .iter()
            .map(|f| switchyard_topic::to_mqtt(f))
            .collect();
        Ok(Connection::start(
            id,
            settings,
            store.clone(),
            inbound,
            filters,
        )?)
    }
}

/// A topic filter as users write it, in MQTT syntax.
fn mqtt_filter(topic: &str) -> Result<String> {
    switchyard_topic::validate(topic).map_err(|e| Error::InvalidFilter(topic.to_owned(), e.0))?;
    Ok(switchyard_topic::to_mqtt(topic))
}

impl switchyard_broker::Connection for Connection {
    type Settings = Settings;

    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(Connection::stop(self))
    }

    fn set_filters(&self, filters: BTreeSet<String>) -> BoxFuture<'_, anyhow::Result<()>> {
        let filters = filters
            .iter()
            .map(|f| switchyard_topic::to_mqtt(f))
            .collect();
        Box::pin(async move { Ok(self.link.set_filters(filters).await?) })
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { Ok(self.link.publish(topic, payload).await?) })
    }

    fn subscribe<'a>(&'a self, filter: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { Ok(self.link.subscribe(mqtt_filter(filter)?).await?) })
    }

    fn unsubscribe<'a>(&'a self, filter: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { Ok(self.link.unsubscribe(&mqtt_filter(filter)?).await?) })
    }
}
