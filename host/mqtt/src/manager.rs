//! The client manager: keeps one connection per enabled `MQTTClient` in step with the store, and
//! sends messages through those connections for the dispatcher.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use switchyard_dispatch::{BoxFuture, Inbound, Outbound};
use switchyard_store::{Object, Query, Store};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::connection::{Connection, Link, status_fields};
use crate::settings::{self, Wanted};
use crate::{Error, Result};

const SUBSCRIBER_TYPE: &str = "MessageSubscriber";

/// The connections of all `MQTTClient` objects.
///
/// [`Mqtt::run`] follows the store; the [`Outbound`] methods publish and (un)subscribe through
/// a live connection. Topics added with [`Outbound::subscribe`] are kept in memory for the
/// life of that connection (re-subscribed after a reconnect) and are gone once the client is
/// disabled, reconfigured or the server restarts; subscribers' topics are always restored.
pub struct Mqtt {
    store: Store,
    inbound: Arc<dyn Inbound>,
    /// Where the embedded broker listens, for `embedded` URLs.
    embedded: Option<SocketAddr>,
    connections: Mutex<HashMap<String, Connection>>,
    closing: watch::Sender<bool>,
}

impl Mqtt {
    /// The client type this broker kind serves, for [`switchyard_dispatch::Brokers::register`].
    pub const CLIENT_TYPE: &'static str = "MQTTClient";

    /// `embedded` is the embedded broker's address, or `None` when it is off.
    pub fn new(store: Store, inbound: Arc<dyn Inbound>, embedded: Option<SocketAddr>) -> Mqtt {
        Mqtt {
            store,
            inbound,
            embedded,
            connections: Mutex::new(HashMap::new()),
            closing: watch::Sender::new(false),
        }
    }

    /// Connects every enabled client, then follows the store's changes until
    /// [`Mqtt::shutdown`] (or until the store goes away).
    pub async fn run(self: Arc<Self>) {
        // Subscribed before reading, so no change slips between the two.
        let mut changes = self.store.subscribe();
        let mut closing = self.closing.subscribe();
        self.reconcile_all(true).await;
        loop {
            let change = tokio::select! {
                biased;
                _ = closing.wait_for(|closing| *closing) => return,
                change = changes.recv() => change,
            };
            match change {
                Ok(change) if change.type_name == Self::CLIENT_TYPE => {
                    self.reconcile(&change.id).await;
                }
                Ok(change) if change.type_name == SUBSCRIBER_TYPE => self.refresh_filters().await,
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!("missed {missed} store changes; re-reading all MQTT clients");
                    self.reconcile_all(false).await;
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Disconnects every client cleanly and stops following the store.
    pub async fn shutdown(&self) {
        self.closing.send_replace(true);
        let connections: Vec<_> = self.lock().drain().map(|(_, c)| c).collect();
        let mut stopping = JoinSet::new();
        for connection in connections {
            stopping.spawn(connection.stop());
        }
        stopping.join_all().await;
    }

    /// Brings every client in line with its object. At startup (`reset`) no client is connected
    /// yet, whatever the stored status says.
    async fn reconcile_all(&self, reset: bool) {
        let objects = match self.store.query(Self::CLIENT_TYPE, &Query::default()) {
            Ok(page) => page.result,
            Err(e) => {
                tracing::error!("cannot read the MQTT clients: {e}");
                return;
            }
        };
        let mut ids = HashSet::new();
        for object in &objects {
            let Some(id) = object.get("id").and_then(|id| id.as_str()) else {
                continue;
            };
            if reset {
                self.set_status(id, object, false, None);
            }
            ids.insert(id.to_owned());
        }
        let gone: Vec<String> = self
            .lock()
            .keys()
            .filter(|id| !ids.contains(*id))
            .cloned()
            .collect();
        for id in gone.iter().chain(&ids) {
            self.reconcile(id).await;
        }
        self.refresh_filters().await;
    }

    /// Starts, restarts or stops the connection of client `id` to match its object.
    async fn reconcile(&self, id: &str) {
        if *self.closing.borrow() {
            return;
        }
        let object = match self.store.get_with_secrets(id) {
            Ok(object) => {
                object.filter(|o| o.get("type").and_then(|t| t.as_str()) == Some(Self::CLIENT_TYPE))
            }
            Err(e) => {
                tracing::error!(client = %id, "cannot read the MQTT client: {e}");
                return;
            }
        };
        let wanted = match &object {
            Some(object) => settings::wanted(id, object, self.embedded),
            None => Wanted::Off,
        };
        // Status updates (our own) and other properties do not touch the connection.
        if let Wanted::On(settings) = &wanted
            && self.lock().get(id).is_some_and(|c| &c.settings == settings)
        {
            return;
        }
        let old = self.lock().remove(id);
        if let Some(old) = old {
            old.stop().await;
        }
        match (wanted, &object) {
            (Wanted::On(settings), _) => {
                let filters = self.filters_for(id);
                let store = self.store.clone();
                let connection =
                    match Connection::start(id, settings, store, self.inbound.clone(), filters) {
                        Ok(connection) => connection,
                        Err(e) => {
                            tracing::error!(client = %id, "cannot start the MQTT connection: {e}");
                            if let Some(object) = &object {
                                self.set_status(id, object, false, Some(e.to_string()));
                            }
                            return;
                        }
                    };
                let mut connections = self.lock();
                if *self.closing.borrow() {
                    drop(connections);
                    connection.stop().await;
                } else {
                    connections.insert(id.to_owned(), connection);
                }
            }
            (Wanted::Invalid(message), Some(object)) => {
                tracing::warn!(client = %id, "MQTT client not connected: {message}");
                self.set_status(id, object, false, Some(message));
            }
            _ => {}
        }
    }

    /// Gives every connection its subscribers' current topic filters.
    async fn refresh_filters(&self) {
        let links: Vec<(String, Arc<Link>)> = self
            .lock()
            .iter()
            .map(|(id, c)| (id.clone(), c.link.clone()))
            .collect();
        for (id, link) in links {
            if let Err(e) = link.set_filters(self.filters_for(&id)).await {
                tracing::warn!(client = %id, "cannot update subscriptions: {e}");
            }
        }
    }

    fn filters_for(&self, id: &str) -> BTreeSet<String> {
        self.inbound
            .filters_for(id)
            .iter()
            .map(|filter| switchyard_topic::to_mqtt(filter))
            .collect()
    }

    /// Writes a status the manager decides (not a connection's), unless it is already stored:
    /// every write comes back as a change, which must not cause another write.
    fn set_status(&self, id: &str, object: &Object, connected: bool, error: Option<String>) {
        let fields = status_fields(&connected, &error);
        let stored = |key: &str| object.get(key).cloned().unwrap_or_default();
        if fields.iter().all(|(key, value)| &stored(key) == value) {
            return;
        }
        if let Err(e) = self.store.set_status(id, fields) {
            tracing::warn!(client = %id, "could not record the connection status: {e}");
        }
    }

    fn link(&self, client_id: &str) -> Result<Arc<Link>> {
        self.lock()
            .get(client_id)
            .map(|c| c.link.clone())
            .ok_or_else(|| Error::NotConnected(client_id.to_owned()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Connection>> {
        self.connections.lock().expect("connections lock")
    }
}

/// A topic filter as users write it, in MQTT syntax.
fn mqtt_filter(topic: &str) -> Result<String> {
    switchyard_topic::validate(topic).map_err(|e| Error::InvalidFilter(topic.to_owned(), e.0))?;
    Ok(switchyard_topic::to_mqtt(topic))
}

impl Outbound for Mqtt {
    fn publish<'a>(
        &'a self,
        client_id: &'a str,
        topic: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { Ok(self.link(client_id)?.publish(topic, payload).await?) })
    }

    fn subscribe<'a>(
        &'a self,
        client_id: &'a str,
        topic: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let filter = mqtt_filter(topic)?;
            Ok(self.link(client_id)?.subscribe(filter).await?)
        })
    }

    fn unsubscribe<'a>(
        &'a self,
        client_id: &'a str,
        topic: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let filter = mqtt_filter(topic)?;
            Ok(self.link(client_id)?.unsubscribe(&filter).await?)
        })
    }
}
