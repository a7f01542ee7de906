//! The WebAssembly runtime: turns uploaded bytes into plugins of the `switchyard:plugin`
//! world and runs them, one fresh sandbox per message.
//!
//! Plugins are compiled once (the artifact is cached in sled) and pre-instantiated; each
//! invocation gets a new instance from the pooling allocator, a WASI context with no files,
//! network or environment, its own write set over the object store, and a wall-time deadline
//! enforced by epoch interruption. What the guest writes and publishes is handed back as
//! [`Effects`] for the caller to commit, so a failed or trapped invocation leaves no trace.

mod bindings;
pub mod clients;
mod componentize;
mod engine;
mod imports;
mod log;
mod plugins;
mod sandbox;

pub use plugins::{PluginError, PluginInfo, WORLD};

use bindings::handler;
use plugins::Registry;
use sandbox::{Sandbox, Tag};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::Linker;
use wasmtime::{Engine, Trap, UpdateDeadline};

/// One message handed to a plugin.
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub client_id: String,
    pub subscriber_id: String,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub timestamp_ms: u64,
}

/// A publish a plugin asked for; sent by the dispatcher after the invocation commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub client_id: String,
    pub topic: String,
    pub payload: Vec<u8>,
}

/// A subscription change a plugin asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionChange {
    Subscribe { client_id: String, topic: String },
    Unsubscribe { client_id: String, topic: String },
}

/// What a successful invocation leaves behind: its uncommitted writes and queued effects.
pub struct Effects {
    pub writes: switchyard_store::Txn,
    pub publishes: Vec<Publish>,
    pub subscriptions: Vec<SubscriptionChange>,
}

/// Why an invocation failed. Its writes and publishes are discarded.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("no plugin named `{0}`")]
    NoSuchPlugin(String),
    #[error("payload of {size} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("handler returned an error: {0}")]
    Handler(String),
    #[error("plugin trapped: {0}")]
    Trap(String),
    #[error("plugin ran out of time ({0} ms)")]
    Timeout(u128),
}

/// Limits applied to every invocation.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Linear memory per instance, in bytes.
    pub memory_bytes: usize,
    /// Wall time per invocation.
    pub timeout: Duration,
    /// Host calls (objects, messaging, log) per invocation.
    pub host_calls: u32,
    /// Largest payload handed to a plugin, in bytes.
    pub max_payload: usize,
    /// How many instances may exist at once (pooling allocator slots).
    pub max_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(5),
            host_calls: 10_000,
            max_payload: 4 << 20,
            max_instances: 256,
        }
    }
}

/// The runtime. Cheap to clone; clones share the engine and the loaded plugins.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<Sandbox>,
    registry: Registry,
    store: switchyard_store::Store,
    limits: Limits,
}

impl Runtime {
    /// Creates the engine and loads every stored plugin (from its cached compiled artifact).
    pub fn new(store: switchyard_store::Store, limits: Limits) -> anyhow::Result<Runtime> {
        let engine = engine::build(&limits)?;
        engine::start_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        bindings::Plugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)?;
        let registry = Registry::open(&store)?;
        registry.load_all(&engine, &linker)?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                registry,
                store,
                limits,
            }),
        })
    }

    /// Validates, compiles and stores a plugin, replacing any plugin of that name for all later
    /// messages. CPU-heavy: call from a blocking task.
    pub fn install(&self, name: &str, bytes: &[u8]) -> Result<PluginInfo, PluginError> {
        let inner = &self.inner;
        inner
            .registry
            .install(&inner.engine, &inner.linker, name, bytes)
    }

    pub fn list(&self) -> Vec<PluginInfo> {
        self.inner.registry.list()
    }

    pub fn info(&self, name: &str) -> Option<PluginInfo> {
        self.inner.registry.get(name).map(|l| l.info.clone())
    }

    /// Removes a plugin; returns whether it existed.
    pub fn remove(&self, name: &str) -> Result<bool, PluginError> {
        self.inner.registry.remove(name)
    }

    /// Runs `plugin` on one message in a fresh instance.
    pub async fn invoke(&self, plugin: &str, message: Message) -> Result<Effects, InvokeError> {
        let inner = &self.inner;
        let limits = &inner.limits;
        let loaded = (inner.registry.get(plugin))
            .ok_or_else(|| InvokeError::NoSuchPlugin(plugin.to_owned()))?;
        if message.payload.len() > limits.max_payload {
            return Err(InvokeError::PayloadTooLarge {
                size: message.payload.len(),
                limit: limits.max_payload,
            });
        }
        let tag = Tag {
            plugin: Arc::from(plugin),
            subscriber: message.subscriber_id.clone(),
        };
        let sandbox = Sandbox::new(
            tag.clone(),
            inner.store.begin(),
            limits.memory_bytes,
            limits.host_calls,
        );
        let mut store = wasmtime::Store::new(&inner.engine, sandbox);
        store.limiter(|s| s.limiter());
        let deadline = Instant::now() + limits.timeout;
        store.set_epoch_deadline(1);
        // Yield to the executor on every tick so a busy guest never starves other tasks,
        // and stop it once its wall time is up.
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });

        let outcome = run(&loaded.pre, &mut store, message).await;
        let sandbox = store.into_data();
        log::stdio(&tag, &sandbox.stdout.contents(), &sandbox.stderr.contents());
        match outcome {
            Ok(Ok(())) => Ok(Effects {
                writes: sandbox.writes,
                publishes: sandbox.publishes,
                subscriptions: sandbox.subscriptions,
            }),
            Ok(Err(reason)) => Err(InvokeError::Handler(reason)),
            Err(e) if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
                Err(InvokeError::Timeout(limits.timeout.as_millis()))
            }
            Err(e) => Err(InvokeError::Trap(format!("{e:#}"))),
        }
    }
}

async fn run(
    pre: &bindings::PluginPre<Sandbox>,
    store: &mut wasmtime::Store<Sandbox>,
    message: Message,
) -> wasmtime::Result<Result<(), String>> {
    let instance = pre.instantiate_async(&mut *store).await?;
    let message = handler::Message {
        topic: message.topic,
        payload: message.payload,
        client_id: message.client_id,
        subscriber_id: message.subscriber_id,
        key: message.key,
        headers: message.headers,
        timestamp_ms: message.timestamp_ms,
    };
    instance
        .switchyard_plugin_handler()
        .call_handle(store, &message)
        .await
}
