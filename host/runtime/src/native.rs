//! Callbacks written in Rust and registered in the process, run where a plugin would be: the
//! same routing, write set, commit, publish and acknowledgement, without the sandbox. They
//! serve programs that embed Switchyard as a library, and `bench/`, which measures what the
//! sandbox costs by running the same work both ways.

use crate::{Effects, Message};

/// A callback in Rust. It writes through `effects.writes` and queues publishes in
/// `effects.publishes`, exactly what a plugin's host calls do; an error discards both.
pub trait NativeCallback: Send + Sync + 'static {
    fn handle(&self, message: &Message, effects: &mut Effects) -> Result<(), String>;
}
