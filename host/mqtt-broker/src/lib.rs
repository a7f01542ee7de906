//! The embedded MQTT broker: the broker a fresh install talks to, and the one place where
//! Switchyard can acknowledge a device's message only once it is safe. Devices connect over
//! TCP or WebSocket with MQTT 3.1.1 or 5; Switchyard's own `embedded` clients are in-process
//! [`LocalSession`]s. A QoS 1/2 publish is acknowledged to its device once every in-process
//! session it reached has kept it (for Switchyard's clients: once their callbacks' writes are on
//! disk), and a retained message once it is in the store.
//!
//! Each tenant has a topic namespace of its own. Devices are not authenticated yet and are all
//! in the default tenant.

mod ack;
mod codec;
mod connection;
mod listener;
mod local;
mod retained;
mod router;

pub use ack::Ack;
pub use local::LocalSession;
pub use router::{BoxFuture, Message, Sink};
pub use rumqttd::protocol::QoS;

use listener::Transport;
use parking_lot::Mutex;
use retained::Retained;
use router::{Router, SessionId};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use switchyard_store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where the broker listens; `None` turns a listener off.
#[derive(Clone, Copy, Debug, Default)]
pub struct Listeners {
    pub tcp: Option<SocketAddr>,
    pub ws: Option<SocketAddr>,
}

/// A running embedded broker. Its listeners stop when the last clone is dropped.
#[derive(Clone)]
pub struct EmbeddedBroker {
    shared: Arc<Shared>,
    tcp: Option<SocketAddr>,
    ws: Option<SocketAddr>,
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
    /// Binds the listeners (port 0 picks a free port, see [`EmbeddedBroker::tcp_addr`]) and
    /// serves them on the current Tokio runtime, keeping retained messages in `store`.
    pub fn start(
        listeners: Listeners,
        store: &Store,
        max_packet: usize,
    ) -> Result<EmbeddedBroker, Error> {
        let retained = Retained::open(store).map_err(Error::Store)?;
        let shared = Arc::new(Shared {
            router: Router::default(),
            retained,
            clients: Mutex::new(HashMap::new()),
            max_packet,
        });
        let mut tasks = Vec::new();
        let mut bind = |addr: Option<SocketAddr>, transport: Transport| {
            let Some(addr) = addr else { return Ok(None) };
            let failed = |source| Error::Listen {
                addr,
                transport: transport.name(),
                source,
            };
            let listener = std::net::TcpListener::bind(addr).map_err(failed)?;
            listener.set_nonblocking(true).map_err(failed)?;
            let bound = listener.local_addr().map_err(failed)?;
            let listener = tokio::net::TcpListener::from_std(listener).map_err(failed)?;
            let accept = listener::accept(listener, transport, shared.clone());
            tasks.push(tokio::spawn(accept));
            Ok(Some(bound))
        };
        let tcp = bind(listeners.tcp, Transport::Tcp)?;
        let ws = bind(listeners.ws, Transport::WebSocket)?;
        tracing::info!(?tcp, ?ws, "embedded MQTT broker listening");
        Ok(EmbeddedBroker {
            shared,
            tcp,
            ws,
            _listeners: Arc::new(Listening(tasks)),
        })
    }

    /// Where the MQTT (TCP) listener is, if there is one.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp
    }

    /// Where the MQTT-over-WebSocket listener is, if there is one.
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws
    }

    /// An in-process session in `tenant`'s namespace whose messages go to `sink`.
    pub fn session(&self, tenant: &str, sink: Arc<dyn Sink>) -> LocalSession {
        LocalSession::new(self.shared.clone(), tenant, sink)
    }
}

/// A device's tenant and client id.
type ClientKey = (String, String);

/// What every connection of the broker shares.
pub(crate) struct Shared {
    router: Router,
    retained: Retained,
    /// The connected devices by tenant and client id, with the way to end each one's
    /// connection when another takes its client id over.
    clients: Mutex<HashMap<ClientKey, (SessionId, oneshot::Sender<()>)>>,
    max_packet: usize,
}

impl Shared {
    /// Registers a device's connection, ending an earlier one with the same client id; the
    /// receiver fires when a later one takes over.
    fn register(&self, tenant: &str, client: &str, session: SessionId) -> oneshot::Receiver<()> {
        let (take_over, taken_over) = oneshot::channel();
        let key = (tenant.to_owned(), client.to_owned());
        if let Some((_, earlier)) = self.clients.lock().insert(key, (session, take_over)) {
            let _ = earlier.send(());
        }
        taken_over
    }

    fn unregister(&self, tenant: &str, client: &str, session: SessionId) {
        let mut clients = self.clients.lock();
        let key = (tenant.to_owned(), client.to_owned());
        if clients.get(&key).is_some_and(|(s, _)| *s == session) {
            clients.remove(&key);
        }
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
    #[error("cannot read the retained messages: {0}")]
    Store(switchyard_store::Error),
    #[error("invalid topic filter `{0}`")]
    InvalidFilter(String),
}
