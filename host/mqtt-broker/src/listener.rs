//! The broker's listeners: MQTT over TCP, over TLS, over WebSocket (subprotocol `mqtt`) for
//! browsers, and over secure WebSocket. Each accepted connection is served on a task of its
//! own.

use crate::Shared;
use crate::connection;
use async_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use async_tungstenite::tungstenite::http::HeaderValue;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use ws_stream_tungstenite::WsStream;

/// Time a connection gets for its TLS and WebSocket handshakes.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the bytes of a connection are carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Tls,
    WebSocket,
    SecureWebSocket,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::WebSocket => "WebSocket",
            Transport::SecureWebSocket => "secure WebSocket",
        }
    }

    pub fn is_secure(self) -> bool {
        matches!(self, Transport::Tls | Transport::SecureWebSocket)
    }

    fn is_websocket(self) -> bool {
        matches!(self, Transport::WebSocket | Transport::SecureWebSocket)
    }
}

/// Accepts connections until the listener fails; `tls` is there for the secure transports.
pub(crate) async fn accept(
    listener: TcpListener,
    transport: Transport,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: the next accept may succeed.
                tracing::warn!("the embedded MQTT broker cannot accept a connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // A publish or an ack is one small packet someone waits for.
        let _ = stream.set_nodelay(true);
        let (shared, tls) = (shared.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                Some(tls) => {
                    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => carry(stream, transport, shared, peer).await,
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => carry(stream, transport, shared, peer).await,
            }
        });
    }
}

/// Serves MQTT over `stream`, through a WebSocket if the transport is one.
async fn carry<S>(stream: S, transport: Transport, shared: Arc<Shared>, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    if !transport.is_websocket() {
        return connection::serve(stream, shared, peer).await;
    }
    let handshake = async_tungstenite::tokio::accept_hdr_async(stream, Subprotocol);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(socket)) => connection::serve(WsStream::new(socket), shared, peer).await,
        Ok(Err(e)) => tracing::debug!(%peer, "WebSocket handshake failed: {e}"),
        Err(_) => tracing::debug!(%peer, "WebSocket handshake timed out"),
    }
}

/// Answers with the `mqtt` subprotocol, which MQTT-over-WebSocket clients ask for.
struct Subprotocol;

impl Callback for Subprotocol {
    fn on_request(self, _: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
        (response.headers_mut()).insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
        Ok(response)
    }
}
