//! One connection manager for every broker kind: it keeps a connection per enabled client
//! object of its type in step with the store (enabling connects, disabling, editing or
//! deleting reconnects or disconnects, subscriber changes update the topics live), and sends
//! through those connections for the dispatcher. A broker crate supplies only a [`Broker`]:
//! how to read its object's settings and how to open a [`Connection`].
//!
//! With several instances sharing the store, a client that only one may run at a time (see
//! [`Broker::shared`]) runs where its lease is held: every few seconds each instance renews
//! the leases of the clients it runs and takes those nobody renewed, so a client whose
//! instance died runs elsewhere within [`LEASE_TTL`] and a tick.

use crate::{BoxFuture, Clients, Inbound, Outbound};
use parking_lot::{Mutex, MutexGuard};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use switchyard_model::{DEFAULT_TENANT, MESSAGE_SUBSCRIBER, Report};
use switchyard_store::{ChangeKind, Object, Query, Store};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What a client object asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Wanted<S> {
    /// Disabled (or gone): no connection.
    Off,
    /// Enabled with these settings.
    On(S),
    /// Enabled, but its settings cannot be used; the message says why.
    Invalid(String),
}

/// A broker kind: MQTT, Kafka, Pulsar.
pub trait Broker: Send + Sync + 'static {
    /// What a connection needs from its object; a change to them reconnects.
    type Settings: Clone + PartialEq + Send + Sync + 'static;
    type Connection: Connection<Settings = Self::Settings>;

    /// The client object type it serves (`MQTTClient`, `KafkaClient`, ...).
    fn client_type(&self) -> &'static str;
    /// Reads what client `id` asks for from its object, read with its secrets.
    fn wanted(&self, id: &str, object: &Object) -> Wanted<Self::Settings>;
    /// Whether several instances sharing the store may run a client with these settings at
    /// once, the broker splitting its messages between them (a Kafka group, a shared
    /// subscription). Any other client runs on one instance at a time, which holds its lease.
    fn shared(&self, settings: &Self::Settings) -> bool {
        let _ = settings;
        false
    }
    /// Takes over what `instance`, an instance sharing the store that died, left with the
    /// broker for `tenant`'s client `id` (for MQTT, a share group member's kept session): runs
    /// it through `inbound`, then ends it. Whether nothing is left. A kind whose broker keeps
    /// nothing for one instance has nothing to take over.
    fn adopt(
        &self,
        tenant: &str,
        id: &str,
        settings: &Self::Settings,
        inbound: Arc<dyn Inbound>,
        instance: &str,
    ) -> BoxFuture<'static, bool> {
        let _ = (tenant, id, settings, inbound, instance);
        Box::pin(async { true })
    }
    /// Opens a connection that connects (and reconnects) in the background, consumes the
    /// topic `filters` (as users write them) into `inbound`, and reports its status on the
    /// client object, which `store` (acting in the client's tenant) holds.
    fn connect(
        &self,
        store: &Store,
        id: &str,
        settings: Self::Settings,
        inbound: Arc<dyn Inbound>,
        filters: BTreeSet<String>,
    ) -> anyhow::Result<Self::Connection>;
}

/// One client's live connection.
pub trait Connection: Send + Sync + 'static {
    type Settings;

    fn settings(&self) -> &Self::Settings;
    /// Disconnects cleanly; a callback running now finishes, nothing else is dispatched.
    fn stop(&self) -> BoxFuture<'_, ()>;
    /// Consumes exactly these topic filters (as users write them) from now on.
    fn set_filters(&self, filters: BTreeSet<String>) -> BoxFuture<'_, anyhow::Result<()>>;
    fn publish<'a>(&'a self, topic: &'a str, payload: Vec<u8>)
    -> BoxFuture<'a, anyhow::Result<()>>;
    fn subscribe<'a>(&'a self, filter: &'a str) -> BoxFuture<'a, anyhow::Result<()>>;
    fn unsubscribe<'a>(&'a self, filter: &'a str) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// How long a client's lease lasts unless renewed.
pub const LEASE_TTL: Duration = Duration::from_secs(10);

/// How often leases are renewed and free ones taken, on a store shared with other instances.
const LEASE_TICK: Duration = Duration::from_secs(3);

/// How long an instance has to take over what a dead one left for one kind's clients.
const ADOPTION_TTL: Duration = Duration::from_secs(600);

/// Which dead instances' leftovers each kind has taken over: `<client type>/<instance>`.
const ADOPTED: &str = "adopted";

/// The lease of `tenant`'s client `id`.
fn lease_name(tenant: &str, id: &str) -> String {
    format!("client/{tenant}/{id}")
}

/// A client that has no live connection.
#[derive(Debug, thiserror::Error)]
#[error("client `{0}` is not connected")]
pub struct NotConnected(pub String);

/// The connections of every client object of one broker kind, in every tenant.
pub struct Manager<B: Broker> {
    store: Store,
    broker: B,
    inbound: Arc<dyn Inbound>,
    /// By client id (ids are unique across tenants).
    connections: Mutex<HashMap<String, Live<B::Connection>>>,
    closing: watch::Sender<bool>,
}

/// A running connection and the tenant of its client.
struct Live<C> {
    tenant: Arc<str>,
    connection: Arc<C>,
}

impl<B: Broker> Manager<B> {
    pub fn new(store: Store, inbound: Arc<dyn Inbound>, broker: B) -> Manager<B> {
        Manager {
            store,
            broker,
            inbound,
            connections: Mutex::default(),
            closing: watch::Sender::new(false),
        }
    }

    /// Connects every enabled client, then follows the store's changes until
    /// [`Manager::shutdown`] (or until the store goes away).
    pub async fn run(self: Arc<Self>) {
        // Subscribed before reading, so no change slips between the two.
        let mut changes = self.store.subscribe();
        let mut closing = self.closing.subscribe();
        self.reconcile_all(true).await;
        let client_type = self.broker.client_type();
        let mut leases = tokio::time::interval(LEASE_TICK);
        leases.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shared = self.store.is_shared();
        // Adopting a dead instance's sessions runs their backlog through the callbacks, which
        // can take minutes: beside this loop, one pass at a time, so leases are renewed (and
        // changes followed) meanwhile. Dropped (aborted) when the loop ends: what it had not
        // acknowledged waits at the broker for the next adoption.
        let mut adopting = JoinSet::new();
        loop {
            let change = tokio::select! {
                biased;
                _ = closing.wait_for(|closing| *closing) => return,
                change = changes.recv() => Some(change),
                _ = leases.tick(), if shared => None,
            };
            let Some(change) = change else {
                self.reconcile_all(false).await;
                while adopting.try_join_next().is_some() {}
                if adopting.is_empty() {
                    adopting.spawn(self.clone().adopt_gone());
                }
                continue;
            };
            match change {
                Ok(change) if change.type_name == client_type => {
                    self.reconcile(&change.tenant, &change.id).await
                }
                Ok(change) if change.type_name == MESSAGE_SUBSCRIBER => {
                    self.refresh_filters(Some(&change.tenant)).await
                }
                Ok(change) if change.kind == ChangeKind::Missed => {
                    tracing::info!(
                        "other instances' changes were missed; re-reading every {client_type}"
                    );
                    self.reconcile_all(false).await;
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!("missed {missed} store changes; re-reading every {client_type}");
                    self.reconcile_all(false).await;
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    /// Disconnects every client cleanly, gives up their leases (so other instances take them
    /// at once) and stops following the store.
    pub async fn shutdown(&self) {
        self.closing.send_replace(true);
        let live: Vec<_> = self.lock().drain().collect();
        let mut stopping = JoinSet::new();
        for (_, live) in &live {
            let connection = live.connection.clone();
            stopping.spawn(async move { connection.stop().await });
        }
        stopping.join_all().await;
        for (id, live) in live {
            self.release(&live.tenant, &id);
        }
    }

    /// Brings every client in line with its object. At startup (`reset`) no client of this
    /// instance is connected yet, whatever the stored status says; on a store shared with other
    /// instances the status may be theirs, and stays.
    async fn reconcile_all(&self, reset: bool) {
        // A store that cannot be read now says nothing about which clients are gone.
        let Some(objects) = self.client_objects() else {
            return;
        };
        let mut clients = HashSet::new();
        for (tenant, object) in objects {
            let id = switchyard_model::id_of(&object);
            if reset && !self.store.is_shared() {
                self.set_status(&tenant, id, &object, false, None);
            }
            clients.insert((tenant, id.to_owned()));
        }
        let gone: Vec<(String, String)> = (self.lock().iter())
            .map(|(id, live)| (live.tenant.to_string(), id.clone()))
            .filter(|client| !clients.contains(client))
            .collect();
        for (tenant, id) in gone.iter().chain(&clients) {
            self.reconcile(tenant, id).await;
        }
        self.refresh_filters(None).await;
    }

    /// Every client object of this kind, in every tenant, with its tenant; `None` if the
    /// store cannot tell.
    fn client_objects(&self) -> Option<Vec<(String, Object)>> {
        let client_type = self.broker.client_type();
        let mut tenants = match self.store.tenants() {
            Ok(tenants) => tenants,
            Err(e) => {
                tracing::error!("cannot list the tenants: {}", Report(&e));
                return None;
            }
        };
        if !tenants.iter().any(|t| t == DEFAULT_TENANT) {
            tenants.push(DEFAULT_TENANT.to_owned());
        }
        let mut all = Vec::new();
        for tenant in tenants {
            let store = self.store.in_tenant(&tenant);
            match store.query(client_type, &Query::default()) {
                Ok(page) => all.extend(page.result.into_iter().map(|o| (tenant.clone(), o))),
                Err(e) => {
                    tracing::error!(tenant, "cannot read the {client_type} objects: {e}");
                    return None;
                }
            }
        }
        Some(all)
    }

    /// Takes over what instances that died left with the broker for this kind's clients:
    /// each dead instance once, by whichever live instance holds its adoption lease.
    async fn adopt_gone(self: Arc<Self>) {
        let client_type = self.broker.client_type();
        let gone = match self.store.gone_instances() {
            Ok(gone) => gone,
            Err(e) => {
                tracing::warn!("cannot list the instances that died: {}", Report(&e));
                return;
            }
        };
        let adopted = self.store.space(ADOPTED);
        for instance in gone {
            let done = format!("{client_type}/{instance}");
            let lease = format!("adopt/{done}");
            let ours = matches!(adopted.get(&done), Ok(None))
                && self.store.lease(&lease, ADOPTION_TTL).unwrap_or(false);
            if !ours {
                continue;
            }
            let mut finished = true;
            for (tenant, object) in self.client_objects().unwrap_or_default() {
                let id = switchyard_model::id_of(&object);
                // Read again with its secrets: the connection needs its credentials.
                let Ok(Some(object)) = self.store.in_tenant(&tenant).get_with_secrets(id) else {
                    finished = false;
                    continue;
                };
                if let Wanted::On(settings) = self.broker.wanted(id, &object)
                    && self.broker.shared(&settings)
                {
                    let inbound = self.inbound.clone();
                    let adopting = self
                        .broker
                        .adopt(&tenant, id, &settings, inbound, &instance);
                    finished &= adopting.await;
                }
            }
            if finished && let Err(e) = adopted.put(&done, instance.as_bytes()) {
                tracing::warn!("cannot record an adoption: {}", Report(&e));
            }
            self.release_lease(&lease);
        }
    }

    /// Starts, restarts or stops the connection of `tenant`'s client `id` to match its object.
    async fn reconcile(&self, tenant: &str, id: &str) {
        if *self.closing.borrow() {
            return;
        }
        let client_type = self.broker.client_type();
        let store = self.store.in_tenant(tenant);
        let object = match store.get_with_secrets(id) {
            Ok(object) => {
                object.filter(|o| o.get("type").and_then(|t| t.as_str()) == Some(client_type))
            }
            Err(e) => {
                tracing::error!(client = %id, "cannot read the {client_type}: {e}");
                return;
            }
        };
        let wanted = match &object {
            Some(object) => self.broker.wanted(id, object),
            None => Wanted::Off,
        };
        // A client only one instance may run runs here while this instance holds its lease.
        let wanted = match wanted {
            Wanted::On(settings) if !self.broker.shared(&settings) && !self.hold(tenant, id) => {
                Wanted::Off
            }
            wanted => wanted,
        };
        if wanted == Wanted::Off {
            self.release(tenant, id);
        }
        // Status updates (our own) and other properties do not touch the connection.
        if let Wanted::On(settings) = &wanted
            && self
                .lock()
                .get(id)
                .is_some_and(|live| live.connection.settings() == settings)
        {
            return;
        }
        let old = self.lock().remove(id);
        if let Some(old) = old {
            old.connection.stop().await;
        }
        match (wanted, &object) {
            (Wanted::On(settings), _) => {
                let filters = self.filters_for(tenant, id);
                let inbound = self.inbound.clone();
                let connection = match self.broker.connect(&store, id, settings, inbound, filters) {
                    Ok(connection) => Arc::new(connection),
                    Err(e) => {
                        tracing::error!(client = %id, "cannot start the {client_type}: {e:#}");
                        if let Some(object) = &object {
                            self.set_status(tenant, id, object, false, Some(format!("{e:#}")));
                        }
                        return;
                    }
                };
                let mut connections = self.lock();
                if *self.closing.borrow() {
                    drop(connections);
                    connection.stop().await;
                } else {
                    let tenant = Arc::from(tenant);
                    connections.insert(id.to_owned(), Live { tenant, connection });
                }
            }
            (Wanted::Invalid(message), Some(object)) => {
                tracing::warn!(client = %id, "{client_type} not connected: {message}");
                self.set_status(tenant, id, object, false, Some(message));
            }
            _ => {}
        }
    }

    /// Gives every connection (of tenant `only`, if given) its subscribers' current topic
    /// filters.
    async fn refresh_filters(&self, only: Option<&str>) {
        let connections: Vec<(Arc<str>, String, Arc<B::Connection>)> = (self.lock().iter())
            .filter(|(_, live)| only.is_none_or(|tenant| *live.tenant == *tenant))
            .map(|(id, live)| (live.tenant.clone(), id.clone(), live.connection.clone()))
            .collect();
        for (tenant, id, connection) in connections {
            if let Err(e) = connection.set_filters(self.filters_for(&tenant, &id)).await {
                tracing::warn!(client = %id, "cannot update subscriptions: {e:#}");
            }
        }
    }

    fn filters_for(&self, tenant: &str, id: &str) -> BTreeSet<String> {
        self.inbound.filters_for(tenant, id).into_iter().collect()
    }

    /// Writes a status the manager decides (not a connection's), unless it is already stored:
    /// every write comes back as a change, which must not cause another write.
    fn set_status(
        &self,
        tenant: &str,
        id: &str,
        object: &Object,
        connected: bool,
        error: Option<String>,
    ) {
        let fields = status_fields(tenant, id, connected, error.as_deref());
        let stored = |key: &str| object.get(key).cloned().unwrap_or_default();
        if fields.iter().all(|(key, value)| &stored(key) == value) {
            return;
        }
        if let Err(e) = self.store.in_tenant(tenant).set_status(id, fields) {
            tracing::warn!(client = %id, "could not record the connection status: {e}");
        }
    }

    /// Takes or renews the lease of `tenant`'s client `id`; whether this instance may run it.
    /// A store that cannot be asked says no: another instance may have taken it meanwhile.
    fn hold(&self, tenant: &str, id: &str) -> bool {
        match self.store.lease(&lease_name(tenant, id), LEASE_TTL) {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(client = %id, "cannot renew the client's lease: {}", Report(&e));
                false
            }
        }
    }

    /// Gives up the lease of `tenant`'s client `id`, if this instance held it.
    fn release(&self, tenant: &str, id: &str) {
        self.release_lease(&lease_name(tenant, id));
    }

    fn release_lease(&self, name: &str) {
        if let Err(e) = self.store.release(name) {
            tracing::warn!(lease = name, "cannot give up a lease: {}", Report(&e));
        }
    }

    fn connection(&self, client_id: &str) -> Result<Arc<B::Connection>, NotConnected> {
        let live = self
            .lock()
            .get(client_id)
            .map(|live| live.connection.clone());
        live.ok_or_else(|| NotConnected(client_id.to_owned()))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Live<B::Connection>>> {
        self.connections.lock()
    }
}

impl<B: Broker> Outbound for Manager<B> {
    fn publish<'a>(
        &'a self,
        client_id: &'a str,
        topic: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { self.connection(client_id)?.publish(topic, payload).await })
    }

    fn subscribe<'a>(
        &'a self,
        client_id: &'a str,
        topic: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { self.connection(client_id)?.subscribe(topic).await })
    }

    fn unsubscribe<'a>(
        &'a self,
        client_id: &'a str,
        topic: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { self.connection(client_id)?.unsubscribe(topic).await })
    }
}

impl<B: Broker> Clients for Manager<B> {
    fn run(self: Arc<Self>) -> BoxFuture<'static, ()> {
        Box::pin(Manager::run(self))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(Manager::shutdown(self))
    }
}

/// The status properties as the store takes them; also shown in `/metrics`.
fn status_fields(tenant: &str, id: &str, connected: bool, error: Option<&str>) -> Object {
    let labels = [("tenant", tenant.to_owned()), ("client", id.to_owned())];
    let gauge = metrics::gauge!("switchyard_client_connected", &labels);
    gauge.set(if connected { 1.0 } else { 0.0 });
    let mut fields = Object::new();
    fields.insert("isConnected".into(), connected.into());
    fields.insert("lastError".into(), error.into());
    fields
}

/// A connection's own status reports on its client object, written only when they change.
pub struct Status {
    store: Store,
    id: String,
    reported: Option<(bool, Option<String>)>,
}

impl Status {
    pub fn new(store: Store, id: &str) -> Status {
        Status {
            store,
            id: id.to_owned(),
            reported: None,
        }
    }

    /// Records `isConnected` and `lastError`, unless that is what was reported last.
    pub fn report(&mut self, connected: bool, error: Option<String>) {
        let status = (connected, error);
        if self.reported.as_ref() == Some(&status) {
            return;
        }
        let fields = status_fields(self.store.tenant(), &self.id, status.0, status.1.as_deref());
        if let Err(e) = self.store.set_status(&self.id, fields) {
            tracing::warn!(client = %self.id, "could not record the connection status: {e}");
        }
        self.reported = Some(status);
    }
}

/// The topic filters one connection follows: its subscribers', plus filters added through
/// `Outbound::subscribe` for the connection's life, minus subscribers' filters dropped through
/// `Outbound::unsubscribe` (until subscribed again or the connection restarts).
#[derive(Debug, Default)]
pub struct Topics {
    filters: BTreeSet<String>,
    extra: BTreeSet<String>,
    muted: BTreeSet<String>,
}

impl Topics {
    pub fn new(filters: BTreeSet<String>) -> Topics {
        Topics {
            filters,
            ..Topics::default()
        }
    }

    /// Every filter to follow now.
    pub fn all(&self) -> BTreeSet<String> {
        (self.filters.union(&self.extra))
            .filter(|f| !self.muted.contains(*f))
            .cloned()
            .collect()
    }

    /// Applies `change`; whether the filters to follow changed with it.
    pub fn change(&mut self, change: impl FnOnce(&mut Topics)) -> bool {
        let before = self.all();
        change(self);
        self.all() != before
    }

    /// Replaces the subscribers' filters.
    pub fn set_filters(&mut self, filters: BTreeSet<String>) {
        self.filters = filters;
    }

    pub fn add(&mut self, filter: String) {
        self.muted.remove(&filter);
        self.extra.insert(filter);
    }

    pub fn remove(&mut self, filter: &str) {
        self.extra.remove(filter);
        if self.filters.contains(filter) {
            self.muted.insert(filter.to_owned());
        }
    }
}
