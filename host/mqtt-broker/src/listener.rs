//! The broker's listeners: MQTT over TCP, and MQTT over WebSocket (subprotocol `mqtt`) for
//! browsers. Each accepted connection is served on a task of its own.

use crate::Shared;
use crate::connection;
use async_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use async_tungstenite::tungstenite::http::HeaderValue;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use ws_stream_tungstenite::WsStream;

/// How the bytes of a connection are carried.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Transport {
    Tcp,
    WebSocket,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "TCP",
            Transport::WebSocket => "WebSocket",
        }
    }
}

/// Accepts connections until the listener fails.
pub(crate) async fn accept(listener: TcpListener, transport: Transport, shared: Arc<Shared>) {
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
        let shared = shared.clone();
        tokio::spawn(async move {
            match transport {
                Transport::Tcp => connection::serve(stream, shared, peer).await,
                Transport::WebSocket => match websocket(stream).await {
                    Ok(stream) => connection::serve(stream, shared, peer).await,
                    Err(e) => tracing::debug!(%peer, "WebSocket handshake failed: {e}"),
                },
            }
        });
    }
}

async fn websocket(
    stream: TcpStream,
) -> Result<
    WsStream<async_tungstenite::tokio::TokioAdapter<TcpStream>>,
    async_tungstenite::tungstenite::Error,
> {
    let socket = async_tungstenite::tokio::accept_hdr_async(stream, Subprotocol).await?;
    Ok(WsStream::new(socket))
}

/// Answers with the `mqtt` subprotocol, which MQTT-over-WebSocket clients ask for.
struct Subprotocol;

impl Callback for Subprotocol {
    fn on_request(self, _: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
        (response.headers_mut()).insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
        Ok(response)
    }
}
