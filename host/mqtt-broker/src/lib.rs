//! The embedded MQTT broker: the broker a fresh install talks to, and the one place where
//! Switchyard can acknowledge a device's message only once it is safe. Devices connect over
//! TCP or WebSocket with MQTT 3.1.1 or 5; Switchyard's own `embedded` clients are in-process
//! [`LocalSession`]s. A QoS 1/2 publish is acknowledged to its device once every in-process
//! session it reached has kept it (for Switchyard's clients: once their callbacks' writes are on
//! disk), and a retained message once it is in the store.
//!
//! Each tenant has a topic namespace of its own: a device lives in the tenant of the
//! `MQTTDevice` it authenticated as (see [`access`]), and may use only the topics that device
//! is allowed.

pub mod access;
mod ack;
mod blocking;
mod codec;
mod connection;
mod events;
mod listener;
mod local;
mod retained;
mod router;
mod sessions;
mod tls;
mod verdicts;

pub use access::{
    Access, Arrivals, AuthMode, HookDevice, Hooks, Identity, Login, Refused, Verdict,
};
pub use ack::Ack;
pub use local::LocalSession;
pub use router::{BoxFuture, Message, Publisher, Sink, Via};
pub use rumqttd::protocol::QoS;
pub use tls::Tls;

use listener::Transport;
use parking_lot::Mutex;
use retained::Retained;
use router::{Router, SessionId};
use rumqttd::protocol::ConnectReturnCode;
use sessions::{Persistent, Sessions, Slot};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use switchyard_store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where the broker listens; `None` turns a listener off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Listeners {
    pub tcp: Option<SocketAddr>,
    pub tls: Option<SocketAddr>,
    pub ws: Option<SocketAddr>,
    pub wss: Option<SocketAddr>,
}

impl Listeners {
    fn of(mut self, transport: Transport) -> Option<SocketAddr> {
        *self.slot(transport)
    }

    fn slot(&mut self, transport: Transport) -> &mut Option<SocketAddr> {
        match transport {
            Transport::Tcp => &mut self.tcp,
            Transport::Tls => &mut self.tls,
            Transport::WebSocket => &mut self.ws,
            Transport::SecureWebSocket => &mut self.wss,
        }
    }

    /// The listeners bound to an address other than loopback.
    pub fn exposed(&self) -> Vec<SocketAddr> {
        let all = [self.tcp, self.tls, self.ws, self.wss];
        (all.into_iter().flatten())
            .filter(|addr| !addr.ip().is_loopback())
            .collect()
    }
}

/// How the broker runs.
#[derive(Clone, Default)]
pub struct Config {
    pub listeners: Listeners,
    /// The certificate the TLS and secure WebSocket listeners serve.
    pub tls: Option<Tls>,
    pub access: Access,
    /// The largest packet a device may send.
    pub max_packet: usize,
}

/// A running embedded broker. Its listeners stop when the last clone is dropped.
#[derive(Clone)]
pub struct EmbeddedBroker {
    shared: Arc<Shared>,
    bound: Listeners,
    _listeners: Arc<Listening>,
}

struct Listening(Vec<JoinHandle<()>>);

impl Drop for Listening {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl EmbeddedBroker {
    /// Binds the listeners (port 0 picks a free port, see [`EmbeddedBroker::listeners`]) and
    /// serves them on the current Tokio runtime, keeping retained messages in `store`.
    pub fn start(config: Config, store: &Store) -> Result<EmbeddedBroker, Error> {
        let retained = Retained::open(store).map_err(Error::Store)?;
        let sessions = Sessions::open(store);
        let router = Router::default();
        let clients = (sessions.load(&router).map_err(Error::Store)?.into_iter())
            .map(|(tenant, client, slot)| {
                let slot = Arc::new(tokio::sync::Mutex::new(slot));
                ((tenant, client), Client { slot, online: None })
            })
            .collect();
        let shared = Arc::new(Shared {
            router,
            retained,
            sessions,
            clients: Mutex::new(clients),
            max_packet: config.max_packet,
            access: config.access,
        });
        let sweeping = Arc::downgrade(&shared);
        let mut tasks = vec![tokio::spawn(async move {
            let mut every = tokio::time::interval(sessions::SWEEP);
            loop {
                every.tick().await;
                match sweeping.upgrade() {
                    Some(shared) => shared.sweep(),
                    None => return,
                }
            }
        })];
        let mut bound = Listeners::default();
        for transport in [
            Transport::Tcp,
            Transport::Tls,
            Transport::WebSocket,
            Transport::SecureWebSocket,
        ] {
            let Some(addr) = config.listeners.of(transport) else {
                continue;
            };
            let tls = match (transport.is_secure(), &config.tls) {
                (false, _) => None,
                (true, Some(tls)) => Some(tokio_rustls::TlsAcceptor::from(tls.0.clone())),
                (true, None) => return Err(Error::NoCertificate(transport.name())),
            };
            let failed = |source| Error::Listen {
                addr,
                transport: transport.name(),
                source,
            };
            let listener = std::net::TcpListener::bind(addr).map_err(failed)?;
            listener.set_nonblocking(true).map_err(failed)?;
            let local = listener.local_addr().map_err(failed)?;
            let listener = tokio::net::TcpListener::from_std(listener).map_err(failed)?;
            tasks.push(tokio::spawn(listener::accept(
                listener,
                transport,
                tls,
                shared.clone(),
            )));
            *bound.slot(transport) = Some(local);
        }
        tracing::info!(listeners = ?bound, "embedded MQTT broker listening");
        Ok(EmbeddedBroker {
            shared,
            bound,
            _listeners: Arc::new(Listening(tasks)),
        })
    }

    /// Whether devices must authenticate.
    pub fn auth_mode(&self) -> AuthMode {
        self.shared.access.mode
    }

    /// Where the listeners are, as bound.
    pub fn listeners(&self) -> Listeners {
        self.bound
    }

    /// Checks a device's credentials as a CONNECT would, for devices that publish over HTTP.
    pub async fn authenticate(&self, login: access::Login) -> Result<Identity, Refused> {
        match &self.shared.access.gatekeeper {
            Some(gatekeeper) => gatekeeper.authenticate(login).await,
            None => Err(Refused::BadCredentials),
        }
    }

    /// Publishes `message` for a device outside a connection (HTTP): it goes where a publish
    /// of the device would, and the answer comes once every session it reached has kept it
    /// and, if retained, the store has it, as a QoS 1 publish's PUBACK would.
    pub async fn publish(&self, device: &Identity, message: Message) -> Result<(), PublishError> {
        if !device.may_publish(&message.topic) {
            return Err(PublishError::NotAllowed(message.topic));
        }
        let message = Arc::new(message);
        let (ack, acked) = Ack::new();
        let retained = (message.retain).then(|| self.shared.retained.set(&device.tenant, &message));
        // A full session makes a device wait for room; here the acknowledgement waits anyway.
        drop(self.shared.router.route(&device.tenant, &message, &ack));
        drop(ack);
        if !acked.await {
            return Err(PublishError::NotKept);
        }
        match retained {
            Some(retained) => retained.await.map_err(|e| {
                tracing::error!("cannot keep a retained message: {e}");
                PublishError::NotKept
            }),
            None => Ok(()),
        }
    }

    /// An in-process session in `tenant`'s namespace whose messages go to `sink`.
    pub fn session(&self, tenant: &str, sink: Arc<dyn Sink>) -> LocalSession {
        LocalSession::new(self.shared.clone(), tenant, sink)
    }
}

/// A device's tenant and client id.
type ClientKey = (String, String);

/// One client id's session, and the connection holding it.
struct Client {
    slot: Arc<tokio::sync::Mutex<Slot>>,
    /// The connection that is or will be holding the slot, and how to end it when another
    /// takes its client id over.
    online: Option<(SessionId, oneshot::Sender<()>)>,
}

/// Why a connection could not take its client id's session.
#[derive(Clone, Copy, Debug)]
enum NoSession {
    /// The connection it takes over did not let go in time.
    Busy,
    /// The store failed.
    Unavailable,
}

impl NoSession {
    /// The CONNACK code that says so, in the device's protocol version.
    fn code(self, v5: bool) -> ConnectReturnCode {
        match (self, v5) {
            (NoSession::Busy, true) => ConnectReturnCode::ServerBusy,
            (NoSession::Unavailable, true) => ConnectReturnCode::ServerUnavailable,
            (_, false) => ConnectReturnCode::ServiceUnavailable,
        }
    }
}

/// How long a connection waits for the one it takes over to put the session back.
const TAKEOVER: std::time::Duration = std::time::Duration::from_secs(10);

/// What every connection of the broker shares.
pub(crate) struct Shared {
    router: Router,
    retained: Retained,
    sessions: Sessions,
    /// Every client id with a session or a connection, by tenant.
    clients: Mutex<HashMap<ClientKey, Client>>,
    max_packet: usize,
    access: Access,
}

impl Shared {
    /// Registers a device's connection, ending an earlier one with the same client id: the
    /// session's slot, and a receiver that fires when a later one takes over.
    fn register(
        &self,
        tenant: &str,
        client: &str,
        session: SessionId,
    ) -> (Arc<tokio::sync::Mutex<Slot>>, oneshot::Receiver<()>) {
        let (take_over, taken_over) = oneshot::channel();
        let mut clients = self.clients.lock();
        let key = (tenant.to_owned(), client.to_owned());
        let entry = clients.entry(key).or_insert_with(|| Client {
            slot: Arc::default(),
            online: None,
        });
        if let Some((_, earlier)) = entry.online.replace((session, take_over)) {
            let _ = earlier.send(());
        }
        (entry.slot.clone(), taken_over)
    }

    /// Forgets a connection that ended (after it let go of its slot); its client id is
    /// forgotten too unless its session is `kept` or another connection waits for it.
    fn unregister(&self, tenant: &str, client: &str, session: SessionId, kept: bool) {
        let mut clients = self.clients.lock();
        let key = (tenant.to_owned(), client.to_owned());
        let Some(entry) = clients.get_mut(&key) else {
            return;
        };
        if !entry.online.as_ref().is_some_and(|(s, _)| *s == session) {
            return;
        }
        entry.online = None;
        if !kept && Arc::strong_count(&entry.slot) == 1 {
            clients.remove(&key);
        }
    }

    /// Takes a client id's session for a connection, once the connection before it let go:
    /// a clean start discards what was kept; otherwise what was kept is resumed (`true`). A
    /// session that should outlive the connection (`expiry`) is created if there is none.
    async fn hold(
        &self,
        slot: Arc<tokio::sync::Mutex<Slot>>,
        (tenant, client): (&str, &str),
        clean: bool,
        expiry: Option<u32>,
    ) -> Result<(tokio::sync::OwnedMutexGuard<Slot>, bool), NoSession> {
        let mut slot = (tokio::time::timeout(TAKEOVER, slot.lock_owned()).await)
            .map_err(|_| NoSession::Busy)?;
        let mut resumed = false;
        match slot.session.as_mut() {
            Some(session) if clean => {
                session.close(&self.router, tenant);
                slot.session = None;
                if let Err(e) = self.sessions.discard(tenant, client).await {
                    tracing::error!("cannot remove an MQTT session: {e}");
                    return Err(NoSession::Unavailable);
                }
            }
            Some(_) => resumed = true,
            None => {}
        }
        match (slot.session.as_mut(), expiry) {
            (Some(session), Some(expiry)) => session.expiry = expiry,
            (None, Some(expiry)) => {
                let session = Persistent::new(expiry);
                if let Err(e) = self.sessions.save((tenant, client), &session, None).await {
                    tracing::error!("cannot keep an MQTT session: {e}");
                    return Err(NoSession::Unavailable);
                }
                slot.session = Some(session);
            }
            // MQTT 5 with no expiry: the session ends with this connection.
            (Some(session), None) => session.expiry = 0,
            (None, None) => {}
        }
        Ok((slot, resumed))
    }

    /// Gives a resumed session's subscriptions to the connection's `sink` (before its queue
    /// stops taking messages, so none is missed), and takes the messages queued for it out of
    /// the store.
    async fn resume(
        &self,
        slot: &mut Slot,
        (tenant, client): (&str, &str),
        session: SessionId,
        sink: &Arc<dyn Sink>,
    ) -> Vec<(Arc<Message>, QoS)> {
        let Some(persistent) = &mut slot.session else {
            return Vec::new();
        };
        for (filter, qos) in &persistent.subscriptions {
            self.router.subscribe(tenant, session, filter, *qos, sink);
        }
        persistent.resume(&self.router, tenant).await;
        match self.sessions.take_queued((tenant, client)).await {
            Ok(queued) => queued,
            Err(e) => {
                tracing::error!("cannot read an MQTT session's queue: {e}");
                Vec::new()
            }
        }
    }

    /// When a connection ends: a session that outlives it goes on offline with what the
    /// device had not acknowledged (`unsent`); one that does not is removed. Whether it was
    /// kept.
    async fn park(
        &self,
        slot: &mut Slot,
        (tenant, client): (&str, &str),
        unsent: Vec<(Arc<Message>, QoS)>,
    ) -> bool {
        let Some(session) = slot.session.as_mut() else {
            return false;
        };
        if session.expiry == 0 {
            slot.session = None;
            if let Err(e) = self.sessions.discard(tenant, client).await {
                tracing::error!("cannot remove an MQTT session: {e}");
            }
            return false;
        }
        let parked = session.park(&self.sessions, &self.router, (tenant, client), unsent);
        if let Err(e) = parked.await {
            tracing::error!("cannot keep an MQTT session: {e}");
        }
        true
    }

    /// Removes the sessions that expired while offline.
    fn sweep(&self) {
        let now = sessions::now();
        let mut clients = self.clients.lock();
        clients.retain(|(tenant, client), entry| {
            let Ok(mut slot) = entry.slot.try_lock() else {
                return true;
            };
            let Some(session) = slot.session.as_mut() else {
                return true;
            };
            if !session.expired(now) {
                return true;
            }
            session.close(&self.router, tenant);
            let (sessions, tenant, client) =
                (self.sessions.clone(), tenant.clone(), client.clone());
            tokio::spawn(async move {
                if let Err(e) = sessions.discard(&tenant, &client).await {
                    tracing::error!("cannot remove an expired MQTT session: {e}");
                }
            });
            false
        });
    }

    /// Publishes the will of a device that went away without a DISCONNECT.
    fn publish_will(self: &Arc<Self>, tenant: &str, will: rumqttd::protocol::LastWill) {
        let Ok(topic) = String::from_utf8(will.topic.to_vec()) else {
            return;
        };
        if topic.is_empty() || topic.contains(['+', '#', '\0']) {
            return;
        }
        let message = Arc::new(Message {
            topic,
            payload: will.message,
            qos: will.qos,
            retain: will.retain,
            properties: Vec::new(),
            publisher: None,
        });
        if message.retain {
            let stored = self.retained.set(tenant, &message);
            tokio::spawn(async move {
                if let Err(e) = stored.await {
                    tracing::error!("cannot keep a retained will: {e}");
                }
            });
        }
        self.router.route(tenant, &message, &Ack::none());
    }
}

/// Why a device's publish outside a connection was not taken.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("`{0}` is outside the device's publish filters")]
    NotAllowed(String),
    #[error("the message could not be kept; send it again")]
    NotKept,
}

/// What can go wrong starting the broker or using it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "cannot listen on {addr} for the embedded MQTT broker's {transport} listener: {source}"
    )]
    Listen {
        addr: SocketAddr,
        transport: &'static str,
        source: std::io::Error,
    },
    #[error(
        "the embedded MQTT broker's {0} listener needs a certificate: give --tls-cert and --tls-key"
    )]
    NoCertificate(&'static str),
    #[error("cannot use the TLS certificate or key {0}")]
    Tls(String),
    #[error("cannot read the retained messages: {0}")]
    Store(switchyard_store::Error),
    #[error("invalid topic filter `{0}`")]
    InvalidFilter(String),
}
