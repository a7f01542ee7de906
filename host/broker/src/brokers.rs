//! Sending through any client: resolves a client reference to its object and sends through the
//! running clients of its kind.

use crate::BoxFuture;
use crate::clients::{Client, resolve};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use switchyard_store::Store;

/// The sending side of one broker kind, keyed by client object id.
pub trait Outbound: Send + Sync + 'static {
    /// Publishes through the client `client_id`.
    fn publish<'a>(
        &'a self,
        client_id: &'a str,
        topic: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
    /// Adds a topic subscription to the client's connection.
    fn subscribe<'a>(
        &'a self,
        client_id: &'a str,
        topic: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
    /// Removes a topic subscription from the client's connection.
    fn unsubscribe<'a>(
        &'a self,
        client_id: &'a str,
        topic: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// Why a client could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no client with id or name `{0}`")]
    NotFound(String),
    #[error("client `{0}` is of type {1}, which has no broker running")]
    Unsupported(String, &'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("client `{0}` is disabled: set its `isEnabled` to true to connect it, then try again")]
    Disabled(String),
    #[error("{0}")]
    Broker(String),
}

/// The running clients of every kind, keyed by client type name (`MQTTClient`, ...). Cheap to
/// clone.
#[derive(Clone)]
pub struct Brokers {
    store: Store,
    kinds: Arc<RwLock<HashMap<String, Arc<dyn Outbound>>>>,
}

impl Brokers {
    pub fn new(store: Store) -> Brokers {
        Brokers {
            store,
            kinds: Arc::default(),
        }
    }

    /// The same brokers, resolving clients in `tenant`.
    pub fn in_tenant(&self, tenant: &str) -> Brokers {
        Brokers {
            store: self.store.in_tenant(tenant),
            kinds: self.kinds.clone(),
        }
    }

    /// Registers the broker kind that serves clients of `type_name`.
    pub fn register(&self, type_name: &str, outbound: Arc<dyn Outbound>) {
        self.kinds.write().insert(type_name.to_owned(), outbound);
    }

    /// Resolves a client of this tenant by object id or `name`.
    pub fn resolve(&self, client: &str) -> Result<Client, ClientError> {
        let broken = |e: switchyard_store::Error| ClientError::Broker(e.to_string());
        resolve(&self.store.begin(), client)
            .map_err(broken)?
            .ok_or_else(|| ClientError::NotFound(client.to_owned()))
    }

    /// Resolves a client that is enabled, so has a connection to use (or is making one).
    fn enabled(&self, client: &str) -> Result<Client, ClientError> {
        let client = self.resolve(client)?;
        if !client.enabled {
            return Err(ClientError::Disabled(client.id));
        }
        Ok(client)
    }

    fn outbound(&self, client: &str) -> Result<(Client, Arc<dyn Outbound>), ClientError> {
        let client = self.enabled(client)?;
        let outbound = self.outbound_of(&client)?;
        Ok((client, outbound))
    }

    fn outbound_of(&self, client: &Client) -> Result<Arc<dyn Outbound>, ClientError> {
        let kinds = self.kinds.read();
        let unsupported = || ClientError::Unsupported(client.id.clone(), client.type_name());
        kinds
            .get(client.type_name())
            .cloned()
            .ok_or_else(unsupported)
    }

    /// Publishes through a client; a message its broker could never take is refused here.
    pub async fn publish(
        &self,
        client: &str,
        topic: &str,
        payload: Vec<u8>,
    ) -> Result<(), ClientError> {
        let client = self.enabled(client)?;
        client.check_topic(topic).map_err(ClientError::Invalid)?;
        (client.check_size(topic, payload.len())).map_err(ClientError::TooLarge)?;
        self.send(&client, topic, payload).await
    }

    /// Publishes through a client already resolved, to a topic and of a size already checked
    /// against it: a callback's publish is checked when the callback asks for it.
    pub async fn send(
        &self,
        client: &Client,
        topic: &str,
        payload: Vec<u8>,
    ) -> Result<(), ClientError> {
        let outbound = self.outbound_of(client)?;
        (outbound.publish(&client.id, topic, payload).await).map_err(broker_error)?;
        let labels = [
            ("tenant", self.store.tenant().to_owned()),
            ("client", client.id.clone()),
        ];
        metrics::counter!("switchyard_publishes_total", &labels).increment(1);
        Ok(())
    }

    pub async fn subscribe(&self, client: &str, topic: &str) -> Result<(), ClientError> {
        let (client, outbound) = self.outbound(client)?;
        client.check_filter(topic).map_err(ClientError::Invalid)?;
        (outbound.subscribe(&client.id, topic).await).map_err(broker_error)
    }

    pub async fn unsubscribe(&self, client: &str, topic: &str) -> Result<(), ClientError> {
        let (client, outbound) = self.outbound(client)?;
        client.check_filter(topic).map_err(ClientError::Invalid)?;
        (outbound.unsubscribe(&client.id, topic).await).map_err(broker_error)
    }
}

fn broker_error(err: anyhow::Error) -> ClientError {
    ClientError::Broker(format!("{err:#}"))
}
