//! The sandbox: runs a compiled plugin of the `switchyard:plugin` world on one message, in a
//! fresh instance (or, for a plugin that opts in with `limits.reuse`, in one that served the
//! same subscriber before: see [`reuse`]).
//!
//! Each invocation waits for a slot (a semaphore sized to the instance pool), then gets a new
//! instance, a WASI context with no files, network or environment, the write set it was handed
//! over the object store, its plugin's capabilities and budgets, and a wall-time deadline that
//! holds both in guest code (epoch interruption) and in blocking host or WASI calls (the
//! invocation is dropped). What the guest writes and publishes is handed back as [`Effects`]
//! for the caller to commit, so a failed or trapped invocation leaves no trace.
//!
//! Which plugins exist, how uploads become components and where compiled code is cached is the
//! plugin registry's business (`switchyard-plugins`); this crate compiles and runs.

mod admission;
mod bindings;
mod capabilities;
mod engine;
mod hooks;
mod imports;
mod journal;
mod legacy;
mod lifecycle;
mod limits;
mod log;
mod metrics;
mod output;
pub mod profile;
mod reuse;
mod sandbox;

pub use capabilities::{ALL_USER_TYPES, Capabilities, PublishGrant};
pub use hooks::{HookCall, HookDecision, HookDevice};
pub use journal::{Journal, LogFilter, LogLine, LogSource};
pub use lifecycle::{
    Caller, CallerKind, Decision, HookRequest, LifecycleCall, Operation, operation_name,
};
pub use limits::{Limits, PluginLimits, Reuse, SettingsError, merge_overrides};

use admission::{Admission, Slot};
use metrics::PluginMetrics;
use reuse::{Lots, Parking, Warm};
use sandbox::{Sandbox, Settings, Tag};
use std::sync::Arc;
use std::time::Instant;
use switchyard_broker::Client;
use switchyard_store::Txn;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Trap, UpdateDeadline};

/// The world plugins implement, as shown by the API.
pub const WORLD: &str = "switchyard:plugin/plugin@0.2.1";
/// The world of plugins that also take a batch of messages at once (every plugin built with
/// the Rust SDK).
pub const BATCH_WORLD: &str = "switchyard:plugin/batch-plugin@0.2.1";
/// The world before the subscriber came with the message; its plugins still load and run.
pub const EARLIER_WORLD: &str = "switchyard:plugin/plugin@0.2.0";
/// The first world, whose plugins still load and run.
pub const LEGACY_WORLD: &str = "switchyard:plugin/plugin@0.1.0";
/// The world of plugins that decide for the embedded MQTT broker.
pub const HOOKS_WORLD: &str = "switchyard:plugin/broker-hooks@0.2.1";
/// The world of plugins that are a tenant's lifecycle hooks.
pub const LIFECYCLE_WORLD: &str = "switchyard:plugin/lifecycle-hooks@0.2.1";

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
    /// The subscriber object as JSON, when the caller has it: handed to plugins of 0.2.1 and
    /// later with the message, so they need no `objects.get` for their settings.
    pub subscriber: Option<Arc<str>>,
}

impl Message {
    /// The subscriber it is for, its topic, and the client it came on.
    fn names(&self) -> (String, String, String) {
        let (subscriber, topic) = (self.subscriber_id.clone(), self.topic.clone());
        (subscriber, topic, self.client_id.clone())
    }
}

/// A publish a plugin asked for; sent by the dispatcher after the invocation commits. The
/// client is resolved and the topic and size checked when it is asked for, once.
#[derive(Debug, Clone)]
pub struct Publish {
    pub client: Client,
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
    pub writes: Txn,
    pub publishes: Vec<Publish>,
    pub subscriptions: Vec<SubscriptionChange>,
}

impl Effects {
    /// Nothing done yet, over the write set `writes`.
    pub fn new(writes: Txn) -> Effects {
        Effects {
            writes,
            publishes: Vec::new(),
            subscriptions: Vec::new(),
        }
    }
}

/// Why an invocation failed. Its writes and publishes are discarded.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("no plugin named `{0}`")]
    NoSuchPlugin(String),
    #[error("plugin `{0}` could not be loaded from the store: {1}")]
    NotLoaded(String, String),
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
    #[error("the callback panicked: {0}")]
    Panicked(String),
    #[error("plugin `{0}` is not of the {1} world")]
    WrongWorld(String, &'static str),
}

/// A failed invocation, with the write set it had built when it ended (discarded, and kept only
/// for its reads), if it got to run.
pub struct InvokeFailure {
    pub error: InvokeError,
    pub writes: Option<Txn>,
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

/// Why bytes could not be made into runnable code.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("not a component of the {WORLD} world: {0}")]
    WrongWorld(String),
    #[error("compiling the plugin failed: {0}")]
    Compile(String),
}

/// A component compiled and checked against a world: instantiation is pre-resolved, so a
/// message pays only for a fresh instance.
#[derive(Clone)]
pub struct Code {
    pre: Pre,
    /// The world it was built against, with its version.
    world: String,
}

/// A pre-instantiated component of one of the worlds.
#[derive(Clone)]
enum Pre {
    Batch(bindings::batch::BatchPluginPre<Sandbox>),
    Current(bindings::PluginPre<Sandbox>),
    Earlier(bindings::earlier::EarlierPluginPre<Sandbox>),
    Legacy(legacy::PluginPre<Sandbox>),
    Hooks(hooks::BrokerHooksPre<Sandbox>),
    Lifecycle(lifecycle::LifecycleHooksPre<Sandbox>),
}

impl Code {
    /// The WIT world the component implements, with the version it was built against.
    pub fn world(&self) -> &str {
        &self.world
    }

    /// Whether it exports a batch handler, so it may be handed several messages at once.
    pub fn batches(&self) -> bool {
        matches!(self.pre, Pre::Batch(_))
    }

    /// Names `pre`'s world at the version of the `switchyard:plugin` interface `component`
    /// exports: hooks built against 0.2.0 run through the 0.2.1 bindings, and say so.
    fn new(pre: Pre, component: &Component, engine: &Engine) -> Code {
        let world = match &pre {
            Pre::Batch(_) => BATCH_WORLD,
            Pre::Current(_) => WORLD,
            Pre::Earlier(_) => EARLIER_WORLD,
            Pre::Legacy(_) => LEGACY_WORLD,
            Pre::Hooks(_) => HOOKS_WORLD,
            Pre::Lifecycle(_) => LIFECYCLE_WORLD,
        };
        let exported = (component.component_type().exports(engine)).find_map(|(name, _)| {
            let (_, version) = name.strip_prefix("switchyard:plugin/")?.split_once('@')?;
            Some(version.to_owned())
        });
        let world = match (world.split_once('@'), exported) {
            (Some((name, _)), Some(version)) => format!("{name}@{version}"),
            _ => world.to_owned(),
        };
        Code { pre, world }
    }
}

/// Freshly compiled code and the artifact to cache it as.
pub struct Compiled {
    pub code: Code,
    pub artifact: Vec<u8>,
}

/// A plugin ready to run: its code and the settings every invocation of it gets.
pub struct Plugin {
    tenant: Arc<str>,
    name: Arc<str>,
    code: Code,
    settings: Arc<Settings>,
    metrics: PluginMetrics,
    /// Its instances between messages, when its limits ask for reuse.
    parking: Option<Arc<Parking>>,
}

impl Plugin {
    /// `tenant`'s plugin `name`.
    pub fn new(
        tenant: &str,
        name: &str,
        code: Code,
        capabilities: Capabilities,
        limits: PluginLimits,
    ) -> Plugin {
        Plugin {
            tenant: Arc::from(tenant),
            name: Arc::from(name),
            parking: limits.reuse.map(|reuse| Arc::new(Parking::new(reuse))),
            code,
            settings: Arc::new(Settings {
                capabilities,
                limits,
            }),
            metrics: PluginMetrics::new(tenant, name),
        }
    }

    pub fn code(&self) -> &Code {
        &self.code
    }
}

/// The sandbox runtime. Cheap to clone; clones share the engine and the instance pool.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<Sandbox>,
    limits: Limits,
    /// One slot per instance the pool can hold, shared fairly between tenants: invocations
    /// beyond it wait here instead of failing to instantiate.
    admission: Arc<Admission>,
    /// Recent plugin log lines, for `GET /api/logs`.
    journal: Arc<Journal>,
    /// Instances of plugins that reuse them, between messages.
    lots: Arc<Lots>,
}

impl Runtime {
    /// Creates the engine, its instance pool and the linker of both worlds' imports.
    pub fn new(limits: Limits) -> anyhow::Result<Runtime> {
        let engine = engine::build(&limits)?;
        engine::start_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        type Host = wasmtime::component::HasSelf<Sandbox>;
        bindings::Plugin::add_to_linker::<_, Host>(&mut linker, |s| s)?;
        legacy::Plugin::add_to_linker::<_, Host>(&mut linker, |s| s)?;
        let lots = Arc::default();
        Lots::start_sweeper(&lots);
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                lots,
                admission: Admission::new(limits.max_instances as usize),
                journal: Arc::new(Journal::new(limits.log_lines)),
                limits,
            }),
        })
    }

    /// The server-wide limits: every plugin's defaults and the instance pool.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The plugins' recent log lines and their live feed.
    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    /// Compiles a component and checks it against the worlds. CPU-heavy: call from a
    /// blocking task.
    pub fn compile(&self, component: &[u8]) -> Result<Compiled, CompileError> {
        let component = Component::new(&self.inner.engine, component)
            .map_err(|e| CompileError::WrongWorld(format!("{e:#}")))?;
        let code = self.prepare(&component)?;
        let artifact = component
            .serialize()
            .map_err(|e| CompileError::Compile(format!("{e:#}")))?;
        Ok(Compiled { code, artifact })
    }

    /// Code from an artifact that [`Runtime::compile`] made; an error if it was made by an
    /// engine of another version or configuration (compile again then).
    ///
    /// # Safety
    ///
    /// `artifact` must come from [`Compiled::artifact`], unaltered: wasmtime checks its header
    /// but trusts the machine code in it.
    pub unsafe fn load(&self, artifact: &[u8]) -> Result<Code, CompileError> {
        // SAFETY: the caller vouches that the artifact is one `compile` produced.
        let component = unsafe { Component::deserialize(&self.inner.engine, artifact) }
            .map_err(|e| CompileError::Compile(format!("{e:#}")))?;
        self.prepare(&component)
    }

    /// Resolves imports and checks exports once, so every message only instantiates. A
    /// component that does not export the current handler may still be a 0.1.0 plugin.
    fn prepare(&self, component: &Component) -> Result<Code, CompileError> {
        let pre = (self.inner.linker.instantiate_pre(component))
            .map_err(|e| CompileError::WrongWorld(format!("{e:#}")))?;
        if let Ok(batch) = bindings::batch::BatchPluginPre::new(pre.clone()) {
            return Ok(Code::new(Pre::Batch(batch), component, &self.inner.engine));
        }
        let pre = match bindings::PluginPre::new(pre.clone()) {
            Ok(current) => Pre::Current(current),
            Err(error) => match (
                bindings::earlier::EarlierPluginPre::new(pre.clone()),
                legacy::PluginPre::new(pre.clone()),
                hooks::BrokerHooksPre::new(pre.clone()),
                lifecycle::LifecycleHooksPre::new(pre),
            ) {
                (Ok(earlier), ..) => Pre::Earlier(earlier),
                (_, Ok(old), ..) => Pre::Legacy(old),
                (_, _, Ok(hooks), _) => Pre::Hooks(hooks),
                (.., Ok(lifecycle)) => Pre::Lifecycle(lifecycle),
                _ => return Err(CompileError::WrongWorld(format!("{error:#}"))),
            },
        };
        Ok(Code::new(pre, component, &self.inner.engine))
    }

    /// Forgets the log lines of `tenant`'s plugin that is gone.
    pub fn forget(&self, tenant: &str, plugin: &str) {
        self.inner.journal.forget(tenant, plugin);
    }

    /// Runs `plugin` on one message in a fresh instance (or a parked one of the same subscriber,
    /// if the plugin reuses them), once an instance slot is free, with `writes` as its view of
    /// the store. A failure keeps what the invocation read, so a caller that ran it ahead of
    /// time can tell whether the failure still stands.
    pub async fn invoke(
        &self,
        plugin: &Plugin,
        message: Message,
        writes: Txn,
    ) -> Result<Effects, InvokeFailure> {
        self.handle(plugin, Call::Message(message), writes).await
    }

    /// Runs `plugin`'s batch handler on consecutive messages of one subscriber's lane, in one
    /// instance, as [`Runtime::invoke`] runs one message: their effects together, or why the
    /// batch failed (then run each message alone to learn its own outcome).
    pub async fn invoke_batch(
        &self,
        plugin: &Plugin,
        messages: Vec<Message>,
        writes: Txn,
    ) -> Result<Effects, InvokeFailure> {
        self.handle(plugin, Call::Batch(messages), writes).await
    }

    /// Runs a message call (one message or a batch) as its plugin's settings say.
    async fn handle(
        &self,
        plugin: &Plugin,
        call: Call,
        writes: Txn,
    ) -> Result<Effects, InvokeFailure> {
        let limits = &plugin.settings.limits;
        if let Some(size) = (call.messages().iter())
            .map(|message| message.payload.len())
            .find(|size| *size > limits.payload_bytes)
        {
            return Err(InvokeError::PayloadTooLarge {
                size,
                limit: limits.payload_bytes,
            }
            .into());
        }
        let (outcome, effects) = match &plugin.parking {
            Some(parking) => self.reused(plugin, parking, call, writes).await,
            None => self.sandboxed(plugin, call, writes).await,
        };
        match outcome {
            Ok(Returned::Handled) => Ok(effects),
            Ok(Returned::Decided(_) | Returned::Ruled(_)) => {
                unreachable!("a message gets no hook decision")
            }
            Err(error) => Err(InvokeFailure {
                error,
                writes: Some(effects.writes),
            }),
        }
    }

    /// Asks a `broker-hooks` plugin for a decision, in a fresh instance with the plugin's
    /// limits; `writes` is only read (the world has no object imports).
    pub async fn hook(
        &self,
        plugin: &Plugin,
        call: HookCall,
        writes: Txn,
    ) -> Result<HookDecision, InvokeError> {
        match self.sandboxed(plugin, Call::Hook(call), writes).await.0? {
            Returned::Decided(decision) => Ok(decision),
            _ => unreachable!("a hook call gets a decision"),
        }
    }

    /// Asks a `lifecycle-hooks` plugin, in a fresh instance with the plugin's limits and
    /// capabilities over `writes`: what it decided, and the write set with what it wrote,
    /// for the caller to commit.
    pub async fn lifecycle(
        &self,
        plugin: &Plugin,
        call: LifecycleCall,
        writes: Txn,
    ) -> Result<(Decision, Txn), InvokeError> {
        let (outcome, effects) = self.sandboxed(plugin, Call::Lifecycle(call), writes).await;
        match outcome? {
            Returned::Ruled(decision) => Ok((decision, effects.writes)),
            _ => unreachable!("a lifecycle call gets a decision"),
        }
    }

    /// An instance slot for `tenant`, once one is free. Parked instances hold slots, so they
    /// are let go before anyone waits for one.
    async fn admit(&self, tenant: &Arc<str>) -> Slot {
        let admission = &self.inner.admission;
        match admission.try_acquire(tenant) {
            Some(slot) => slot,
            None => {
                self.inner.lots.shed();
                admission.acquire(tenant).await
            }
        }
    }

    /// A store for one call of `plugin`: its sandbox, its memory limit, and the epoch
    /// callback that yields to the executor on every tick, so a busy guest never starves
    /// other tasks.
    fn new_store(&self, plugin: &Plugin, call: &Call, writes: Txn) -> wasmtime::Store<Sandbox> {
        let (subscriber, topic, origin) = call.names();
        let tag = Tag {
            tenant: plugin.tenant.clone(),
            plugin: plugin.name.clone(),
            subscriber,
            topic,
            journal: self.inner.journal.clone(),
        };
        let messages = call.messages().len().max(1) as u32;
        let sandbox = Sandbox::new(tag, plugin.settings.clone(), origin, messages, writes);
        let mut store = wasmtime::Store::new(&self.inner.engine, sandbox);
        store.limiter(|s| s.limiter());
        store
    }

    /// Runs one call of `plugin` in a fresh instance with its deadline, once an instance slot
    /// is free; what it returned, and what it wrote, published and subscribed.
    async fn sandboxed(
        &self,
        plugin: &Plugin,
        call: Call,
        writes: Txn,
    ) -> (Result<Returned, InvokeError>, Effects) {
        let waited = Instant::now();
        let _slot = self.admit(&plugin.tenant).await;
        let started = profile::since(profile::Phase::Admission, waited);
        let mut store = self.new_store(plugin, &call, writes);
        let deadline = arm(&mut store, &plugin.settings.limits);
        let set_up = profile::since(profile::Phase::Setup, started);
        let run = run(&plugin.name, &plugin.code.pre, &mut store, call);
        // A guest blocked in a host or WASI call (a sleep, a poll) is not running wasm, so
        // epochs cannot stop it: the deadline drops the whole call instead.
        let outcome = tokio::time::timeout_at(deadline.into(), run).await;
        let called = profile::since(profile::Phase::Call, set_up);
        let sandbox = store.into_data();
        profile::since(profile::Phase::Teardown, called);
        let outcome = verdict(plugin, &sandbox, outcome, started);
        let effects = Effects {
            writes: sandbox.writes,
            publishes: sandbox.publishes,
            subscriptions: sandbox.subscriptions,
        };
        (outcome, effects)
    }

    /// Runs `plugin` on a message call in the instance its subscriber's last call left parked,
    /// or in a fresh one, and parks the instance again if it handled the call cleanly.
    async fn reused(
        &self,
        plugin: &Plugin,
        parking: &Arc<Parking>,
        call: Call,
        writes: Txn,
    ) -> (Result<Returned, InvokeError>, Effects) {
        let waited = Instant::now();
        let (subscriber, topic, origin) = call.names();
        let mut warm = match parking.take(&subscriber) {
            Some(mut warm) => {
                let messages = call.messages().len() as u32;
                (warm.store.data_mut()).renew(topic, origin, messages, writes);
                warm
            }
            None => {
                let slot = self.admit(&plugin.tenant).await;
                Warm {
                    store: self.new_store(plugin, &call, writes),
                    handler: None,
                    served: 0,
                    parked_at: waited,
                    _slot: slot,
                }
            }
        };
        let started = profile::since(profile::Phase::Admission, waited);
        let deadline = arm(&mut warm.store, &plugin.settings.limits);
        let set_up = profile::since(profile::Phase::Setup, started);
        let store = &mut warm.store;
        let handler = warm.handler.take();
        let run = async {
            let handler = match handler {
                Some(handler) => handler,
                None => Handler::instantiate(&plugin.name, &plugin.code.pre, store).await?,
            };
            let handled = handler.serve(&plugin.name, store, call).await?;
            wasmtime::Result::Ok((handler, handled.map(|()| Returned::Handled)))
        };
        let outcome = tokio::time::timeout_at(deadline.into(), run).await;
        let called = profile::since(profile::Phase::Call, set_up);
        let (outcome, handler) = match outcome {
            Ok(Ok((handler, returned))) => (Ok(Ok(returned)), Some(handler)),
            Ok(Err(error)) => (Ok(Err(error)), None),
            Err(elapsed) => (Err(elapsed), None),
        };
        let outcome = verdict(plugin, warm.store.data(), outcome, started);
        let clean = outcome.is_ok() && !warm.store.data().hit_a_limit();
        let effects = warm.store.data_mut().take_effects();
        if let (true, Some(handler)) = (clean, handler) {
            warm.handler = Some(handler);
            warm.served += 1;
            parking.park(&self.inner.lots, &subscriber, warm);
        }
        profile::since(profile::Phase::Teardown, called);
        (outcome, effects)
    }
}

/// Sets a call's wall-time deadline on `store`: guest code is interrupted once it passes.
fn arm(store: &mut wasmtime::Store<Sandbox>, limits: &PluginLimits) -> Instant {
    let deadline = Instant::now() + limits.timeout();
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        Ok(if Instant::now() >= deadline {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::Yield(1)
        })
    });
    deadline
}

/// What became of a call, from how its future ended and what its sandbox saw: logs what the
/// guest printed and records the call in the plugin's metrics.
fn verdict(
    plugin: &Plugin,
    sandbox: &Sandbox,
    outcome: Result<wasmtime::Result<Result<Returned, String>>, tokio::time::error::Elapsed>,
    started: Instant,
) -> Result<Returned, InvokeError> {
    let limits = &plugin.settings.limits;
    log::stdio(&sandbox.tag, &sandbox.stdout, &sandbox.stderr);
    let error = match outcome {
        Ok(Ok(Ok(returned))) => {
            plugin.metrics.record(None, started.elapsed());
            return Ok(returned);
        }
        Err(_elapsed) => InvokeError::TimeoutBlocked(limits.timeout_ms),
        Ok(Ok(Err(reason))) => InvokeError::Handler(reason),
        Ok(Err(e)) if e.downcast_ref::<InvokeError>().is_some() => {
            e.downcast::<InvokeError>().expect("checked")
        }
        Ok(Err(e)) if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
            InvokeError::Timeout(limits.timeout_ms)
        }
        Ok(Err(e)) if sandbox.hit_memory_limit() => InvokeError::OutOfMemory {
            limit_mb: limits.memory_mb,
            trap: trap_reason(&e),
        },
        Ok(Err(e)) => InvokeError::Trap(trap_reason(&e)),
    };
    plugin.metrics.record(Some(&error), started.elapsed());
    Err(error)
}

/// What a plugin is called for.
enum Call {
    Message(Message),
    /// Consecutive messages of one subscriber's lane.
    Batch(Vec<Message>),
    Hook(HookCall),
    Lifecycle(LifecycleCall),
}

impl Call {
    /// Who a call runs for, what it is about, and the client it came from (where a message
    /// may publish by default); a batch's are its first message's.
    fn names(&self) -> (String, String, String) {
        match self {
            Call::Message(message) => message.names(),
            Call::Batch(messages) => (messages.first()).map(Message::names).unwrap_or_default(),
            Call::Hook(hook) => (String::new(), hook.subject(), hook.client_id().to_owned()),
            Call::Lifecycle(call) => (String::new(), call.subject(), call.caller().to_owned()),
        }
    }

    /// The messages it hands the plugin.
    fn messages(&self) -> &[Message] {
        match self {
            Call::Message(message) => std::slice::from_ref(message),
            Call::Batch(messages) => messages,
            Call::Hook(_) | Call::Lifecycle(_) => &[],
        }
    }
}

/// What a call returned when it did not fail.
enum Returned {
    Handled,
    Decided(HookDecision),
    Ruled(Decision),
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

/// `$message` as the message record `$record` of a world's bindings: each world generates its
/// own type of the same fields.
macro_rules! lower {
    ($message:ident, $record:path) => {{
        use $record as Record;
        Record {
            topic: $message.topic,
            payload: $message.payload,
            client_id: $message.client_id,
            subscriber_id: $message.subscriber_id,
            key: $message.key,
            headers: $message.headers,
            timestamp_ms: $message.timestamp_ms,
        }
    }};
}

/// A plugin's message handler, instantiated: of the current worlds, the 0.2.0 or the 0.1.0 one.
pub(crate) enum Handler {
    Batch(bindings::batch::BatchPlugin),
    Current(bindings::Plugin),
    Earlier(bindings::earlier::EarlierPlugin),
    Legacy(legacy::Plugin),
}

impl Handler {
    /// A new instance of the plugin, if it is of a world with a message handler.
    async fn instantiate(
        name: &str,
        pre: &Pre,
        store: &mut wasmtime::Store<Sandbox>,
    ) -> wasmtime::Result<Handler> {
        let started = Instant::now();
        let handler = match pre {
            Pre::Batch(pre) => Handler::Batch(pre.instantiate_async(&mut *store).await?),
            Pre::Current(pre) => Handler::Current(pre.instantiate_async(&mut *store).await?),
            Pre::Earlier(pre) => Handler::Earlier(pre.instantiate_async(&mut *store).await?),
            Pre::Legacy(pre) => Handler::Legacy(pre.instantiate_async(&mut *store).await?),
            Pre::Hooks(_) | Pre::Lifecycle(_) => {
                return Err(InvokeError::WrongWorld(name.to_owned(), WORLD).into());
            }
        };
        profile::since(profile::Phase::Instantiate, started);
        Ok(handler)
    }

    /// Hands the instance a message call: one message (with its subscriber, where the world
    /// takes it), or a batch, which only the batch world takes.
    async fn serve(
        &self,
        name: &str,
        store: &mut wasmtime::Store<Sandbox>,
        call: Call,
    ) -> wasmtime::Result<Result<(), String>> {
        let message = match (self, call) {
            (_, Call::Message(message)) => message,
            (Handler::Batch(instance), Call::Batch(messages)) => {
                let subscriber = messages.first().and_then(|m| m.subscriber.clone());
                let messages: Vec<_> = messages.into_iter().map(lowered).collect();
                let handler = instance.switchyard_plugin_batch_handler();
                let batch = handler.call_handle_batch(store, &messages, subscriber.as_deref());
                return batch.await;
            }
            (_, Call::Batch(_)) => {
                return Err(InvokeError::WrongWorld(name.to_owned(), BATCH_WORLD).into());
            }
            (_, Call::Hook(_) | Call::Lifecycle(_)) => unreachable!("a handler gets messages"),
        };
        let subscriber = message.subscriber.clone();
        let subscriber = subscriber.as_deref();
        // The same call on two generated types.
        macro_rules! handle {
            ($instance:ident) => {{
                let handler = $instance.switchyard_plugin_message_handler();
                (handler.call_handle(store, &lowered(message), subscriber)).await
            }};
        }
        match self {
            Handler::Batch(instance) => handle!(instance),
            Handler::Current(instance) => handle!(instance),
            Handler::Earlier(instance) => {
                let handler = instance.switchyard_plugin_handler();
                handler.call_handle(store, &lowered(message)).await
            }
            Handler::Legacy(instance) => {
                let message = lower!(message, legacy::handler::Message);
                let handler = instance.switchyard_plugin_handler();
                handler.call_handle(store, &message).await
            }
        }
    }
}

/// A message as the worlds of 0.2.0 and later take it.
fn lowered(message: Message) -> bindings::types::Message {
    lower!(message, bindings::types::Message)
}

/// Instantiates the plugin and makes the call, in whichever world it was built for; a call
/// its world has no export for fails with [`InvokeError::WrongWorld`].
async fn run(
    name: &str,
    pre: &Pre,
    store: &mut wasmtime::Store<Sandbox>,
    call: Call,
) -> wasmtime::Result<Result<Returned, String>> {
    let wrong = |world| Err(InvokeError::WrongWorld(name.to_owned(), world).into());
    match (pre, call) {
        (_, call @ (Call::Message(_) | Call::Batch(_))) => {
            let handler = Handler::instantiate(name, pre, store).await?;
            let handled = handler.serve(name, store, call).await?;
            Ok(handled.map(|()| Returned::Handled))
        }
        (Pre::Hooks(pre), Call::Hook(call)) => {
            Ok(hooks::call(pre, store, call).await?.map(Returned::Decided))
        }
        (Pre::Lifecycle(pre), Call::Lifecycle(call)) => Ok(lifecycle::call(pre, store, call)
            .await?
            .map(Returned::Ruled)),
        (_, Call::Hook(_)) => wrong(HOOKS_WORLD),
        (_, Call::Lifecycle(_)) => wrong(LIFECYCLE_WORLD),
    }
}
