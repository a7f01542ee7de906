//! The callbacks subscribers name: a plugin run in the sandbox, or a callback written in Rust
//! and registered when the dispatcher is built (programs that embed Switchyard as a library,
//! and `bench/`, which measures what the sandbox costs by running the same work both ways).
//!
//! Natives are fixed when the dispatcher is built, so finding one needs no lock. A callback
//! that panics fails like one that returns an error (retried, then recorded as a
//! `FailedMessage` with the panic's message); nothing it held stays locked.

use futures::FutureExt;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use switchyard_plugins::{Loaded, Plugins};
use switchyard_runtime::{Effects, InvokeError, InvokeFailure, Message};
use switchyard_store::Txn;

/// A callback written in Rust. It writes through `effects.writes` and queues publishes in
/// `effects.publishes`, exactly what a plugin's host calls do; an error discards both.
pub trait NativeCallback: Send + Sync + 'static {
    fn handle(&self, message: &Message, effects: &mut Effects) -> Result<(), String>;
}

/// Every callback by name: natives first, then the plugins.
#[derive(Clone)]
pub struct Callbacks {
    plugins: Plugins,
    natives: Arc<HashMap<String, Arc<dyn NativeCallback>>>,
}

impl Callbacks {
    /// The plugins of `plugins`, and the natives by name (which take precedence).
    pub fn new(plugins: Plugins, natives: HashMap<String, Arc<dyn NativeCallback>>) -> Callbacks {
        Callbacks {
            plugins,
            natives: Arc::new(natives),
        }
    }

    pub fn plugins(&self) -> &Plugins {
        &self.plugins
    }

    /// Runs `tenant`'s callback `name` on one message over the write set `writes`. A failure
    /// keeps what the invocation read, so a caller that ran it ahead of time can tell whether
    /// it still stands. Natives serve every tenant: the program that embeds Switchyard
    /// registered them, not a tenant.
    pub async fn invoke(
        &self,
        tenant: &str,
        name: &str,
        message: Message,
        writes: Txn,
    ) -> Result<Effects, InvokeFailure> {
        if let Some(native) = self.natives.get(name) {
            let mut effects = Effects::new(writes);
            let handled = std::panic::catch_unwind(AssertUnwindSafe(|| {
                native.handle(&message, &mut effects)
            }));
            let error = match handled {
                Ok(Ok(())) => return Ok(effects),
                Ok(Err(reason)) => InvokeError::Handler(reason),
                Err(panic) => InvokeError::Panicked(panic_message(&*panic)),
            };
            return Err(InvokeFailure {
                error,
                writes: Some(effects.writes),
            });
        }
        let loaded = self.plugin(tenant, name).await?;
        caught(
            self.plugins
                .runtime()
                .invoke(&loaded.plugin, message, writes),
        )
        .await
    }

    /// How many consecutive messages of one lane `tenant`'s callback `name` takes at once: its
    /// plugin's `limits.batch`; a native takes one.
    pub fn batch(&self, tenant: &str, name: &str) -> usize {
        match self.natives.contains_key(name) {
            true => 1,
            false => (self.plugins.get(tenant, name)).map_or(1, |l| l.info.limits.batch as usize),
        }
    }

    /// Runs `tenant`'s plugin `name` on consecutive messages of one lane through its batch
    /// handler, over the write set `writes`: what they did together, or why the batch failed.
    pub async fn invoke_batch(
        &self,
        tenant: &str,
        name: &str,
        messages: Vec<Message>,
        writes: Txn,
    ) -> Result<Effects, InvokeFailure> {
        let loaded = self.plugin(tenant, name).await?;
        caught(
            self.plugins
                .runtime()
                .invoke_batch(&loaded.plugin, messages, writes),
        )
        .await
    }

    /// The plugin, loaded: a message may reach this instance before the news that another
    /// instance stored the plugin does, and then it is loaded from the store here and now.
    async fn plugin(&self, tenant: &str, name: &str) -> Result<Arc<Loaded>, InvokeError> {
        if let Some(loaded) = self.plugins.get(tenant, name) {
            return Ok(loaded);
        }
        let (plugins, tenant, owned) = (self.plugins.clone(), tenant.to_owned(), name.to_owned());
        let found = (tokio::task::spawn_blocking(move || plugins.get_or_load(&tenant, &owned)))
            .await
            .map_err(|e| e.to_string())
            .and_then(|loaded| loaded.map_err(|e| e.to_string()));
        match found {
            Ok(Some(loaded)) => Ok(loaded),
            Ok(None) => Err(InvokeError::NoSuchPlugin(name.to_owned())),
            Err(why) => Err(InvokeError::NotLoaded(name.to_owned(), why)),
        }
    }
}

/// What a plugin's invocation came to, a panic in the host's part of it included.
async fn caught(
    run: impl Future<Output = Result<Effects, InvokeFailure>>,
) -> Result<Effects, InvokeFailure> {
    match AssertUnwindSafe(run).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => Err(InvokeError::Panicked(panic_message(&*panic)).into()),
    }
}

/// What a panic said, as far as it said it in text.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => (*text).to_owned(),
        (_, Some(text)) => text.clone(),
        _ => "a panic without a message".to_owned(),
    }
}
