//! The publisher's side of a lossless acknowledgement: every in-process session a message
//! reaches holds a clone of its [`Ack`], and the publisher's PUBACK waits until the last clone
//! is gone. A clone dropped by a session that could not keep the message fails it, and the
//! publisher gets no PUBACK (it sends the message again).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::sync::oneshot;

/// A share in one message's acknowledgement.
#[derive(Clone)]
pub struct Ack(Arc<State>);

struct State {
    failed: AtomicBool,
    done: Option<oneshot::Sender<bool>>,
}

impl Drop for State {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(!self.failed.load(Ordering::Acquire));
        }
    }
}

impl Ack {
    /// An acknowledgement to wait for, and the wait.
    pub(crate) fn new() -> (Ack, Acked) {
        let (done, acked) = oneshot::channel();
        let state = State {
            failed: AtomicBool::new(false),
            done: Some(done),
        };
        (Ack(Arc::new(state)), Acked(acked))
    }

    /// For a message nobody waits on (QoS 0, or published by Switchyard itself).
    pub(crate) fn none() -> Ack {
        Ack(Arc::new(State {
            failed: AtomicBool::new(false),
            done: None,
        }))
    }

    /// The message was not kept: its publisher must not be told it was.
    pub fn fail(&self) {
        self.0.failed.store(true, Ordering::Release);
    }
}

/// Resolves to whether every session that took the message kept it.
pub(crate) struct Acked(oneshot::Receiver<bool>);

impl Future for Acked {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        Pin::new(&mut self.0).poll(cx).map(|r| r.unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_last_share_decides() {
        let (ack, acked) = Ack::new();
        let other = ack.clone();
        drop(ack);
        other.fail();
        drop(other);
        assert!(!acked.await);
        let (ack, acked) = Ack::new();
        drop(ack.clone());
        drop(ack);
        assert!(acked.await);
    }
}
