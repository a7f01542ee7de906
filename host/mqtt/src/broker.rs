//! The embedded MQTT broker (rumqttd), so a fresh install has a broker to talk to: devices and
//! `embedded` clients connect to it over TCP, browsers over WebSocket.
//!
//! rumqttd runs its router and listeners on threads of its own and has no way to stop them, so
//! the broker lives as long as the process.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

use crate::settings::MAX_PACKET;
use crate::{Error, Result};

/// How long the listeners may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running embedded broker.
#[derive(Debug, Clone)]
pub struct EmbeddedBroker {
    tcp: SocketAddr,
    ws: Option<SocketAddr>,
}

impl EmbeddedBroker {
    /// Starts the broker with an MQTT listener on `tcp` and, if given, an MQTT-over-WebSocket
    /// listener on `ws`, and returns once both accept connections. Port 0 picks a free port
    /// (see [`EmbeddedBroker::tcp_addr`]). Blocks for up to a few seconds: call it before
    /// starting work or through `spawn_blocking`.
    pub fn start(tcp: SocketAddr, ws: Option<SocketAddr>) -> Result<EmbeddedBroker> {
        let tcp = claim(tcp, "TCP")?;
        let ws = ws.map(|ws| claim(ws, "WebSocket")).transpose()?;
        let config = config(tcp, ws);
        let thread = std::thread::Builder::new()
            .name("mqtt-broker".into())
            .spawn(move || {
                if let Err(e) = Broker::new(config).start() {
                    tracing::error!("the embedded MQTT broker stopped: {e}");
                }
            })
            .map_err(Error::BrokerThread)?;
        for addr in [Some(tcp), ws].into_iter().flatten() {
            wait_until_listening(addr, &thread)?;
        }
        tracing::info!(%tcp, ws = ?ws, "embedded MQTT broker listening");
        Ok(EmbeddedBroker { tcp, ws })
    }

    /// Where the MQTT (TCP) listener is.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp
    }

    /// Where the MQTT-over-WebSocket listener is, if there is one.
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws
    }
}

/// Checks that `addr` is free (rumqttd only logs a failed bind) and resolves port 0.
fn claim(addr: SocketAddr, listener: &'static str) -> Result<SocketAddr> {
    let probe = TcpListener::bind(addr).map_err(|source| Error::Listen {
        addr,
        listener,
        source,
    })?;
    probe.local_addr().map_err(|source| Error::Listen {
        addr,
        listener,
        source,
    })
}

fn wait_until_listening(addr: SocketAddr, thread: &JoinHandle<()>) -> Result<()> {
    let target = SocketAddr::new(
        if addr.ip().is_unspecified() {
            match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            }
        } else {
            addr.ip()
        },
        addr.port(),
    );
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        // rumqttd's start returns only once every listener has given up.
        if thread.is_finished() {
            return Err(Error::BrokerStopped(addr));
        }
        if Instant::now() >= deadline {
            return Err(Error::BrokerTimeout(addr, START_TIMEOUT));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn config(tcp: SocketAddr, ws: Option<SocketAddr>) -> Config {
    let server = |name: &str, listen| {
        HashMap::from([(
            name.to_owned(),
            ServerSettings {
                name: name.to_owned(),
                listen,
                tls: None,
                next_connection_delay_ms: 0,
                connections: ConnectionSettings {
                    // Time a new socket gets to send CONNECT.
                    connection_timeout_ms: 10_000,
                    max_payload_size: MAX_PACKET,
                    max_inflight_count: 100,
                    auth: None,
                    external_auth: None,
                    dynamic_filters: true,
                },
            },
        )])
    };
    Config {
        id: 0,
        router: RouterConfig {
            max_connections: 10_000,
            max_outgoing_packet_count: 200,
            // Per topic filter, messages are kept in memory in up to this many segments of about
            // this size. When a QoS 1/2 subscriber is still in the oldest one, the patched broker
            // holds QoS 1/2 publishers back rather than dropping it (vendor/rumqttd/SWITCHYARD.md);
            // Switchyard's own clients read continuously, so this bounds the broker's memory per
            // filter more than it holds anyone up.
            max_segment_size: 4 * 1024 * 1024,
            max_segment_count: 4,
            ..RouterConfig::default()
        },
        v4: Some(server("mqtt-tcp", tcp)),
        ws: ws.map(|ws| server("mqtt-ws", ws)),
        ..Config::default()
    }
}
