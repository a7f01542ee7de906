//! A guest's stdout or stderr: kept in memory up to the plugin's log budget, the rest counted
//! and dropped. Writes never fail, so a plugin that prints too much (Rust's `println!` panics
//! on a write error) is cut short in the log, not trapped.

use parking_lot::Mutex;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// How much a guest may write in one call; it writes again for the rest.
const PERMIT: usize = 64 << 10;

/// A capped in-memory pipe. Clones share the buffer.
#[derive(Clone)]
pub(crate) struct CappedOutput {
    inner: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    capacity: usize,
    dropped: usize,
}

impl CappedOutput {
    pub(crate) fn new(capacity: usize) -> CappedOutput {
        let captured = Captured {
            capacity,
            ..Captured::default()
        };
        CappedOutput {
            inner: Arc::new(Mutex::new(captured)),
        }
    }

    /// What was kept, and how many bytes were dropped past the cap, emptying the pipe for a
    /// reused instance's next message.
    pub(crate) fn take(&self) -> (Vec<u8>, usize) {
        let mut captured = self.inner.lock();
        let dropped = std::mem::take(&mut captured.dropped);
        (std::mem::take(&mut captured.kept), dropped)
    }

    fn keep(&self, bytes: &[u8]) {
        let mut captured = self.inner.lock();
        let room = captured.capacity.saturating_sub(captured.kept.len());
        let taken = bytes.len().min(room);
        captured.kept.extend_from_slice(&bytes[..taken]);
        captured.dropped += bytes.len() - taken;
    }
}

impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.keep(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(PERMIT)
    }
}

#[async_trait::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.keep(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}
