//! MQTT as a broker kind of the shared connection manager: how an `MQTTClient` object's
//! settings are read and how a connection is opened, (un)subscribed and published through.

use std::collections::BTreeSet;
use std::sync::Arc;

use switchyard_broker::{BoxFuture, Broker, Inbound, Manager, Wanted};
use switchyard_mqtt_broker::EmbeddedBroker;
use switchyard_store::{Object, Store};

use crate::connection::Remote;
use crate::embedded::Embedded;
use crate::settings::{self, Settings};
use crate::{Error, Result};

/// The connections of all `MQTTClient` objects. Topics added with `Outbound::subscribe` are
/// kept in memory for the life of that connection (re-subscribed after a reconnect) and are
/// gone once the client is disabled, reconfigured or the server restarts; subscribers' topics
/// are always restored.
pub type MqttClients = Manager<MqttBroker>;

/// `MQTTClient` connections: through rumqttc to external brokers, in-process to the embedded
/// one.
pub struct MqttBroker {
    /// The embedded broker, for `embedded` clients.
    embedded: Option<EmbeddedBroker>,
}

impl MqttBroker {
    /// `embedded` is the embedded broker, or `None` when it is off.
    pub fn new(embedded: Option<EmbeddedBroker>) -> MqttBroker {
        MqttBroker { embedded }
    }
}

/// One client's connection.
pub enum Connection {
    Remote(Remote),
    Embedded(Box<Embedded>),
}

impl Broker for MqttBroker {
    type Settings = Settings;
    type Connection = Connection;

    fn client_type(&self) -> &'static str {
        crate::MQTT_CLIENT
    }

    fn wanted(&self, id: &str, object: &Object) -> Wanted<Settings> {
        settings::wanted(id, object, self.embedded.is_some())
    }

    fn shared(&self, settings: &Settings) -> bool {
        settings.shared()
    }

    fn adopt(
        &self,
        tenant: &str,
        id: &str,
        settings: &Settings,
        inbound: Arc<dyn Inbound>,
        instance: &str,
    ) -> BoxFuture<'static, bool> {
        if !settings.adoptable() {
            return Box::pin(async { true });
        }
        let (tenant, id, instance) = (tenant.to_owned(), id.to_owned(), instance.to_owned());
        Box::pin(crate::adopt::adopt(
            tenant,
            id,
            settings.clone(),
            inbound,
            instance,
        ))
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
        let store = store.clone();
        Ok(match &self.embedded {
            Some(broker) if settings.is_embedded() => Connection::Embedded(Box::new(
                Embedded::start(broker, id, settings, store, inbound, filters)?,
            )),
            _ => Connection::Remote(Remote::start(id, settings, store, inbound, filters)?),
        })
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
        match self {
            Connection::Remote(remote) => &remote.settings,
            Connection::Embedded(embedded) => &embedded.settings,
        }
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        match self {
            Connection::Remote(remote) => Box::pin(remote.stop()),
            Connection::Embedded(embedded) => Box::pin(async { embedded.stop() }),
        }
    }

    fn set_filters(&self, filters: BTreeSet<String>) -> BoxFuture<'_, anyhow::Result<()>> {
        let filters = filters
            .iter()
            .map(|f| switchyard_topic::to_mqtt(f))
            .collect();
        Box::pin(async move {
            match self {
                Connection::Remote(remote) => remote.link.set_filters(filters).await?,
                Connection::Embedded(embedded) => embedded.set_filters(filters)?,
            }
            Ok(())
        })
    }

    fn publish<'a>(
        &'a self,
        topic: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            match self {
                Connection::Remote(remote) => remote.link.publish(topic, payload).await?,
                Connection::Embedded(embedded) => embedded.publish(topic, payload)?,
            }
            Ok(())
        })
    }

    fn subscribe<'a>(&'a self, filter: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let filter = mqtt_filter(filter)?;
            match self {
                Connection::Remote(remote) => remote.link.subscribe(filter).await?,
                Connection::Embedded(embedded) => embedded.subscribe(filter)?,
            }
            Ok(())
        })
    }

    fn unsubscribe<'a>(&'a self, filter: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let filter = mqtt_filter(filter)?;
            match self {
                Connection::Remote(remote) => remote.link.unsubscribe(&filter).await?,
                Connection::Embedded(embedded) => embedded.unsubscribe(&filter)?,
            }
            Ok(())
        })
    }
}
