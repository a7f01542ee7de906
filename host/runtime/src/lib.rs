//! The WebAssembly runtime: turns uploaded bytes into plugins of the `switchyard:plugin`
//! world and runs them, one fresh sandbox per message.
//!
//! Plugins are compiled once (the artifact is cached in sled) and pre-instantiated; each
//! invocation waits for a slot (a semaphore sized to the instance pool), then gets a new
//! instance, a WASI context with no files, network or environment, its own write set over the
//! object store, its plugin's capabilities and budgets, and a wall-time deadline that holds
//! both in guest code (epoch interruption) and in blocking host or WASI calls (the invocation
//! is dropped). What the guest writes and publishes is handed back as [`Effects`] for the
//! caller to commit, so a failed or trapped invocation leaves no trace.

mod bindings;
mod capabilities;
pub mod clients;
mod componentize;
mod engine;
mod imports;
mod journal;
mod legacy;
mod limits;
mod log;
mod metrics;
mod native;
mod output;
mod plugins;
mod sandbox;

pub use capabilities::{ALL_USER_TYPES, Capabilities, PublishGrant};
pub use journal::{Journal, LogFilter, LogLine};
pub use limits::{Limits, PluginLimits};
pub use native::NativeCallback;
pub use plugins::{LEGACY_WORLD, PluginError, PluginInfo, SettingsPatch, WORLD};

use plugins::{Pre, Registry};
use sandbox::{Sandbox, Tag};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;
use tokio::sync::Semaphore;
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

/// A publish a plugin asked for; sent by the dispatcher after the invocation commits. The
/// client is resolved and the topic and size checked when it is asked for, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub client: clients::Client,
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
    #[error("payload of {size} bytes exceeds the plugin's limit of {limit} bytes")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("handler returned an error: {0}")]
    Handler(String),
    #[error("plugin trapped: {0}")]
    Trap(String),
    #[error(
        "plugin ran out of memory: it asked for more than its limit of {limit_mb} MiB, then \
         trapped: {trap}"
    )]
    OutOfMemory { limit_mb: usize, trap: String },
    #[error("plugin ran out of time ({0} ms)")]
    Timeout(u64),
    #[error("plugin ran out of time ({0} ms) while blocked in a host or WASI call")]
    TimeoutBlocked(u64),
}

/// A failed invocation, with the write set it had built when it ended (discarded, and kept only
/// for its reads), if it got to run.
pub struct InvokeFailure {
    pub error: InvokeError,
    pub writes: Option<switchyard_store::Txn>,
}

impl InvokeFailure {
    /// Whether nothing the invocation read has changed since, so running it again now would
    /// see the same data (one that never ran read nothing).
    pub fn reads_current(&self) -> switchyard_store::Result<bool> {
        self.writes
            .as_ref()
            .map_or(Ok(true), |writes| writes.reads_current())
    }
}

impl From<InvokeError> for InvokeFailure {
    fn from(error: InvokeError) -> InvokeFailure {
        InvokeFailure {
            error,
            writes: None,
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
    /// One permit per instance the pool can hold: invocations beyond it wait here instead of
    /// failing to instantiate.
    admission: Semaphore,
    /// Recent plugin log lines, for `GET /api/logs`.
    journal: Arc<Journal>,
    /// Callbacks registered in Rust, by name; they take precedence over plugins.
    natives: RwLock<HashMap<String, Arc<dyn NativeCallback>>>,
}

impl Runtime {
    /// Creates the engine and loads every stored plugin (from its cached compiled artifact).
    pub fn new(store: switchyard_store::Store, limits: Limits) -> anyhow::Result<Runtime> {
        let engine = engine::build(&limits)?;
        engine::start_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        type Host = wasmtime::component::HasSelf<Sandbox>;
        bindings::Plugin::add_to_linker::<_, Host>(&mut linker, |s| s)?;
        legacy::Plugin::add_to_linker::<_, Host>(&mut linker, |s| s)?;
        let registry = Registry::open(&store)?;
        registry.load_all(&engine, &linker, &limits)?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                registry,
                store,
                admission: Semaphore::new(limits.max_instances as usize),
                journal: Arc::new(Journal::new(limits.log_lines)),
                limits,
                natives: RwLock::default(),
            }),
        })
    }

    /// Validates, compiles and stores a plugin, replacing any plugin of that name for all later
    /// messages. CPU-heavy: call from a blocking task.
    pub fn install(&self, name: &str, bytes: &[u8]) -> Result<PluginInfo, PluginError> {
        let inner = &self.inner;
        (inner.registry).install(&inner.engine, &inner.linker, &inner.limits, name, bytes)
    }

    /// Changes a plugin's capabilities or limits; later invocations use them.
    pub fn configure(&self, name: &str, patch: SettingsPatch) -> Result<PluginInfo, PluginError> {
        self.inner
            .registry
            .configure(&self.inner.limits, name, patch)
    }

    /// The server-wide limits: every plugin's defaults and the instance pool.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub fn list(&self) -> Vec<PluginInfo> {
        self.inner.registry.list()
    }

    pub fn info(&self, name: &str) -> Option<PluginInfo> {
        self.inner.registry.get(name).map(|l| l.info.clone())
    }

    /// Removes a plugin; returns whether it existed.
    pub fn remove(&self, name: &str) -> Result<bool, PluginError> {
        let removed = self.inner.registry.remove(name)?;
        self.inner.journal.forget(name);
        Ok(removed)
    }

    /// The plugins' recent log lines and their live feed.
    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    /// Registers a callback written in Rust under `name`: subscribers whose `callback` is
    /// `name` run it instead of a plugin.
    pub fn register_native(&self, name: &str, callback: Arc<dyn NativeCallback>) {
        let mut natives = self.inner.natives.write().expect("natives lock");
        natives.insert(name.to_owned(), callback);
    }

    /// Runs `plugin` on one message in a fresh instance, once an instance slot is free.
    pub async fn invoke(&self, plugin: &str, message: Message) -> Result<Effects, InvokeError> {
        (self.invoke_keeping_reads(plugin, message).await).map_err(|failure| failure.error)
    }

    /// Like [`Runtime::invoke`], but a failure keeps what the invocation read, so a caller that
    /// ran it ahead of time can tell whether the failure still stands.
    pub async fn invoke_keeping_reads(
        &self,
        plugin: &str,
        message: Message,
    ) -> Result<Effects, InvokeFailure> {
        let inner = &self.inner;
        let native = inner
            .natives
            .read()
            .expect("natives lock")
            .get(plugin)
            .cloned();
        if let Some(native) = native {
            let mut effects = Effects {
                writes: inner.store.begin(),
                publishes: Vec::new(),
                subscriptions: Vec::new(),
            };
            return match native.handle(&message, &mut effects) {
                Ok(()) => Ok(effects),
                Err(reason) => Err(InvokeFailure {
                    error: InvokeError::Handler(reason),
                    writes: Some(effects.writes),
                }),
            };
        }
        let loaded = (inner.registry.get(plugin))
            .ok_or_else(|| InvokeError::NoSuchPlugin(plugin.to_owned()))?;
        let limits = &loaded.settings.limits;
        if message.payload.len() > limits.payload_bytes {
            return Err(InvokeError::PayloadTooLarge {
                size: message.payload.len(),
                limit: limits.payload_bytes,
            }
            .into());
        }
        let _slot = inner.admission.acquire().await.expect("never closed");
        let started = Instant::now();
        let tag = Tag {
            plugin: Arc::from(plugin),
            subscriber: message.subscriber_id.clone(),
            journal: inner.journal.clone(),
        };
        let origin = message.client_id.clone();
        let sandbox = Sandbox::new(
            tag.clone(),
            loaded.settings.clone(),
            origin,
            inner.store.begin(),
        );
        let mut store = wasmtime::Store::new(&inner.engine, sandbox);
        store.limiter(|s| s.limiter());
        let deadline = Instant::now() + limits.timeout();
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

        // A guest blocked in a host or WASI call (a sleep, a poll) is not running wasm, so
        // epochs cannot stop it: the deadline drops the whole call instead.
        let run = run(&loaded.pre, &mut store, message);
        let outcome = tokio::time::timeout_at(deadline.into(), run).await;
        let sandbox = store.into_data();
        log::stdio(&tag, &sandbox.stdout, &sandbox.stderr);
        let hit_memory_limit = sandbox.hit_memory_limit();
        let error = match outcome {
            Ok(Ok(Ok(()))) => {
                let effects = Effects {
                    writes: sandbox.writes,
                    publishes: sandbox.publishes,
                    subscriptions: sandbox.subscriptions,
                };
                loaded.metrics.record(None, started.elapsed());
                return Ok(effects);
            }
            Err(_elapsed) => InvokeError::TimeoutBlocked(limits.timeout_ms),
            Ok(Ok(Err(reason))) => InvokeError::Handler(reason),
            Ok(Err(e)) if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
                InvokeError::Timeout(limits.timeout_ms)
            }
            Ok(Err(e)) if hit_memory_limit => InvokeError::OutOfMemory {
                limit_mb: limits.memory_mb,
                trap: trap_reason(&e),
            },
            Ok(Err(e)) => InvokeError::Trap(trap_reason(&e)),
        };
        loaded.metrics.record(Some(&error), started.elapsed());
        Err(InvokeFailure {
            error,
            writes: Some(sandbox.writes),
        })
    }
}

/// Why a guest trapped, in a line: the trap itself (`call stack exhausted`, `wasm
/// \`unreachable\` instruction executed`), not the wasm backtrace that wraps it, which can run
/// to thousands of frames.
fn trap_reason(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => error.root_cause().to_string(),
    }
}

/// Instantiates the plugin and calls its handler with the message, in whichever world it was
/// built for.
async fn run(
    pre: &Pre,
    store: &mut wasmtime::Store<Sandbox>,
    message: Message,
) -> wasmtime::Result<Result<(), String>> {
    macro_rules! call {
        ($pre:expr, $handler:path) => {{
            use $handler as handler;
            let instance = $pre.instantiate_async(&mut *store).await?;
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
        }};
    }
    match pre {
        Pre::Current(pre) => call!(pre, bindings::handler),
        Pre::Legacy(pre) => call!(pre, legacy::handler),
    }
}
