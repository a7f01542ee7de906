//! The plugin registry: uploads checked against our world (core modules turned into
//! components), compiled by the runtime, stored in the store's `plugins` space with their
//! capabilities and limit overrides, and swapped in for every later message (hot reload).
//!
//! Compiled code is cached on this instance's disk under the upload's sha256 ([`artifacts`]),
//! so a restart (or another plugin name with the same bytes) does not compile again; an
//! artifact the engine cannot load (another wasmtime version or configuration) is compiled
//! again and replaced. Other instances sharing the store see an upload, a change or a removal
//! through [`Plugins::reload`] and compile for themselves.
//!
//! Plugins belong to a tenant: two tenants may each have a plugin of the same name, and a
//! tenant's quotas bound how many it installs, how big an upload may be and how much memory
//! any of them is given.

mod artifacts;
mod componentize;

use artifacts::Artifacts;

use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use switchyard_runtime::{
    Capabilities, Code, CompileError, Limits, Plugin, PluginLimits, Runtime, merge_overrides,
};
use switchyard_store::{Space, SpaceChange, Store};
use switchyard_tenants::{DEFAULT_TENANT, Quota, Tenants};

pub use switchyard_runtime::{BATCH_WORLD, LEGACY_WORLD, WORLD};

/// The store space of uploads and their settings: `meta/<tenant>/<name>` (the [`PluginInfo`]
/// as JSON) and `wasm/<tenant>/<name>` (the uploaded bytes). Before tenants the keys had no
/// tenant; such plugins are moved into the default tenant as they load.
const PLUGINS: &str = "plugins";
/// The store space compiled code was kept in before it moved to each instance's disk; what is
/// left of it is removed.
const OLD_ARTIFACTS: &str = "artifacts";

/// What the API shows about a plugin.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginInfo {
    pub name: String,
    /// Size of the uploaded bytes.
    pub size: usize,
    /// Hex sha256 of the uploaded bytes.
    pub sha256: String,
    /// The WIT world it implements.
    pub world: String,
    /// `component`, or `module` for a core module the host turned into a component.
    pub kind: String,
    /// RFC 3339 time of the upload.
    pub uploaded: String,
    /// What the plugin may touch.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Its limits in effect: the server's defaults with `limitOverrides` laid over them.
    #[serde(default)]
    pub limits: PluginLimits,
    /// The limits set for this plugin, overriding the server's defaults.
    #[serde(default)]
    pub limit_overrides: Map<String, Value>,
}

/// A change to a plugin's settings (`PATCH /api/plugins/{name}`): capabilities are replaced
/// as a whole; limit overrides are merged, `null` going back to the server's default.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsPatch {
    pub capabilities: Option<Capabilities>,
    pub limits: Option<Map<String, Value>>,
}

/// Why an upload or a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("invalid plugin name `{0}`: use 1-64 characters from a-z, A-Z, 0-9, `-`, `_`, `.`")]
    InvalidName(String),
    #[error("not a WebAssembly binary: {0}")]
    NotWasm(String),
    #[error("not a component of the {WORLD} world: {0}")]
    WrongWorld(String),
    #[error("compiling the plugin failed: {0}")]
    Compile(String),
    #[error("{0}")]
    Settings(String),
    #[error("no plugin named `{0}`")]
    NotFound(String),
    /// One of the tenant's quotas would be passed.
    #[error("{0}")]
    Quota(String),
    #[error("the plugin store failed")]
    Storage(#[from] switchyard_store::Error),
}

impl From<CompileError> for PluginError {
    fn from(error: CompileError) -> PluginError {
        match error {
            CompileError::WrongWorld(message) => PluginError::WrongWorld(message),
            CompileError::Compile(message) => PluginError::Compile(message),
        }
    }
}

/// A plugin ready to run, with what the API shows about it.
pub struct Loaded {
    pub info: PluginInfo,
    pub plugin: Plugin,
}

impl Loaded {
    /// Computes the plugin's settings in effect and keeps them beside its code. Memory above
    /// the tenant's `memoryMb` quota (`ceiling`) is cut down to it.
    fn new(
        tenant: &str,
        limits: &Limits,
        ceiling: Option<u64>,
        mut info: PluginInfo,
        code: Code,
    ) -> Result<Loaded, PluginError> {
        info.limits = (limits.with_overrides(&info.limit_overrides))
            .map_err(|e| PluginError::Settings(e.to_string()))?;
        if let Some(ceiling) = ceiling.map(|mb| usize::try_from(mb).unwrap_or(usize::MAX)) {
            info.limits.memory_mb = info.limits.memory_mb.min(ceiling.max(1));
        }
        if info.limits.batch > 1 && !code.batches() {
            return Err(PluginError::Settings(format!(
                "invalid limits: `batch` {} needs a plugin of the {BATCH_WORLD} world (one that \
                 exports `batch-handler`, as every plugin built with the Rust SDK does); this \
                 one is of {}",
                info.limits.batch,
                code.world()
            )));
        }
        info.world = code.world().to_owned();
        let plugin = Plugin::new(
            tenant,
            &info.name,
            code,
            info.capabilities.clone(),
            info.limits.clone(),
        );
        Ok(Loaded { info, plugin })
    }
}

/// The stored plugins and the loaded set. Cheap to clone.
#[derive(Clone)]
pub struct Plugins {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
    store: Store,
    tenants: Tenants,
    space: Space,
    artifacts: Artifacts,
    /// By tenant, then name.
    loaded: RwLock<HashMap<String, HashMap<String, Arc<Loaded>>>>,
    /// Held while a plugin is loaded on demand, so messages that all find it missing compile
    /// it once.
    loading: Mutex<()>,
}

fn key(kind: &str, tenant: &str, name: &str) -> String {
    format!("{kind}/{tenant}/{name}")
}

fn validate_name(name: &str) -> Result<(), PluginError> {
    match switchyard_model::schema::is_plugin_name(name) {
        true => Ok(()),
        false => Err(PluginError::InvalidName(name.to_owned())),
    }
}

/// Turns uploaded bytes into a component of our world, naming what is wrong otherwise.
/// Returns the component bytes and the upload's kind.
fn to_component(bytes: &[u8]) -> Result<(Vec<u8>, &'static str), PluginError> {
    if !bytes.starts_with(b"\0asm") {
        return Err(PluginError::NotWasm(
            "the body does not start with the WebAssembly magic bytes `\\0asm`".into(),
        ));
    }
    if wasmparser::Parser::is_component(bytes) {
        Ok((bytes.to_vec(), "component"))
    } else if wasmparser::Parser::is_core_wasm(bytes) {
        let component = componentize::componentize(bytes).map_err(|e| {
            PluginError::WrongWorld(format!(
                "it is a core module, and turning it into a component failed: {e}"
            ))
        })?;
        Ok((component, "module"))
    } else {
        Err(PluginError::NotWasm(
            "unknown WebAssembly binary version or layer".into(),
        ))
    }
}

/// A stored plugin's info.
fn plugin_info(meta: &[u8]) -> Result<PluginInfo, PluginError> {
    serde_json::from_slice(meta).map_err(|e| {
        PluginError::Storage(switchyard_store::Error::Corrupt(format!(
            "a stored plugin's info: {e}"
        )))
    })
}

fn meta(info: &PluginInfo) -> Vec<u8> {
    serde_json::to_vec(info).expect("info serializes")
}

impl Plugins {
    /// The registry over `store`, with every stored plugin loaded (from its cached code where
    /// the engine can use it).
    pub fn open(store: &Store, runtime: Runtime, tenants: Tenants) -> Result<Plugins, PluginError> {
        let plugins = Plugins {
            inner: Arc::new(Inner {
                runtime,
                store: store.clone(),
                tenants,
                space: store.space(PLUGINS),
                artifacts: Artifacts::open(store.dir()),
                loaded: RwLock::default(),
                loading: Mutex::default(),
            }),
        };
        let old = store.space(OLD_ARTIFACTS);
        let left: Vec<String> = old.list("")?.into_iter().map(|(key, _)| key).collect();
        if !left.is_empty() {
            old.write(
                &left
                    .iter()
                    .map(|key| (key.as_str(), None))
                    .collect::<Vec<_>>(),
            )?;
        }
        plugins.load_all()?;
        Ok(plugins)
    }

    /// Takes in another instance's change to the store's spaces: a plugin it uploaded,
    /// configured or removed is loaded (compiled here) or forgotten. CPU-heavy: call from a
    /// blocking task.
    pub fn heard(&self, change: &SpaceChange) -> Result<(), PluginError> {
        match change {
            SpaceChange::Entry { space, key } if space == PLUGINS => {
                let plugin = key.strip_prefix("meta/").and_then(|k| k.split_once('/'));
                match plugin {
                    Some((tenant, name)) => self.reload(tenant, name),
                    None => Ok(()),
                }
            }
            SpaceChange::Entry { .. } => Ok(()),
            SpaceChange::Missed => self.reload_all(),
        }
    }

    /// Loads `tenant`'s plugin `name` as it is stored now: compiled here unless this instance
    /// has its code.
    fn reload(&self, tenant: &str, name: &str) -> Result<(), PluginError> {
        let Some(meta) = self.inner.space.get(&key("meta", tenant, name))? else {
            if let Some(plugins) = self.inner.loaded.write().get_mut(tenant) {
                plugins.remove(name);
            }
            self.inner.runtime.forget(tenant, name);
            return Ok(());
        };
        let mut info = plugin_info(&meta)?;
        info.name = name.to_owned();
        let code = match self.get(tenant, name) {
            Some(current) if current.info.sha256 == info.sha256 => current.plugin.code().clone(),
            _ => {
                let code = self.load(tenant, &info)?;
                tracing::info!(tenant, plugin = name, "loaded as stored");
                code
            }
        };
        self.swap_in(tenant, self.loaded(tenant, info, code)?);
        Ok(())
    }

    /// Loads every plugin as it is stored now; one that cannot be loaded is logged and left
    /// out.
    fn reload_all(&self) -> Result<(), PluginError> {
        let stored: Vec<(String, String)> = (self.inner.space.list("meta/")?.into_iter())
            .filter_map(|(key, _)| {
                let (tenant, name) = key["meta/".len()..].split_once('/')?;
                Some((tenant.to_owned(), name.to_owned()))
            })
            .collect();
        let loaded: Vec<(String, String)> = (self.inner.loaded.read().iter())
            .flat_map(|(tenant, plugins)| plugins.keys().map(|name| (tenant.clone(), name.clone())))
            .collect();
        for (tenant, name) in stored.iter().chain(&loaded) {
            if let Err(e) = self.reload(tenant, name) {
                tracing::error!(tenant, plugin = name, "cannot load a stored plugin: {e}");
            }
        }
        Ok(())
    }

    /// `tenant`'s plugin `name`, loaded to run, or loaded here first if the store has it and
    /// this instance has not heard of it yet (another instance stored it a moment ago).
    /// CPU-heavy when it compiles: call from a blocking task.
    pub fn get_or_load(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<Arc<Loaded>>, PluginError> {
        if let Some(loaded) = self.get(tenant, name) {
            return Ok(Some(loaded));
        }
        let _one_at_a_time = self.inner.loading.lock();
        if self.get(tenant, name).is_none() {
            self.reload(tenant, name)?;
        }
        Ok(self.get(tenant, name))
    }

    /// The runtime the plugins run in.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// `tenant`'s plugin `name`, loaded, to run.
    pub fn get(&self, tenant: &str, name: &str) -> Option<Arc<Loaded>> {
        (self.inner.loaded.read().get(tenant)).and_then(|plugins| plugins.get(name).cloned())
    }

    pub fn info(&self, tenant: &str, name: &str) -> Option<PluginInfo> {
        self.get(tenant, name).map(|loaded| loaded.info.clone())
    }

    /// Every plugin of `tenant`, by name.
    pub fn list(&self, tenant: &str) -> Vec<PluginInfo> {
        let loaded = self.inner.loaded.read();
        let mut infos: Vec<_> = (loaded.get(tenant).into_iter())
            .flat_map(|plugins| plugins.values().map(|l| l.info.clone()))
            .collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        infos
    }

    /// How many plugins `tenant` has and how many bytes their uploads take.
    pub fn usage(&self, tenant: &str) -> (u64, u64) {
        let plugins = self.list(tenant);
        let bytes = plugins.iter().map(|p| p.size as u64).sum();
        (plugins.len() as u64, bytes)
    }

    /// Refuses an upload of `size` bytes as `tenant`'s plugin `name` over its quotas.
    fn check_quotas(&self, tenant: &str, name: &str, size: usize) -> Result<(), PluginError> {
        let quotas = self.inner.tenants.quotas(tenant);
        quotas
            .check(Quota::PluginBytes, 0, size as u64)
            .map_err(|_| {
                PluginError::Quota(format!(
                    "pluginBytes quota: this tenant's uploads may be up to {} bytes; this one \
                     has {size}",
                    quotas.plugin_bytes.unwrap_or_default()
                ))
            })?;
        if self.info(tenant, name).is_none() {
            let (count, _) = self.usage(tenant);
            (quotas.check(Quota::Plugins, count, 1)).map_err(PluginError::Quota)?;
        }
        Ok(())
    }

    /// Validates, compiles, stores and swaps in `tenant`'s plugin, replacing any plugin of that
    /// name for all later messages; a replaced plugin keeps its capabilities and limits.
    /// CPU-heavy: call from a blocking task.
    pub fn install(
        &self,
        tenant: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<PluginInfo, PluginError> {
        validate_name(name)?;
        self.check_quotas(tenant, name, bytes.len())?;
        let inner = &self.inner;
        let started = std::time::Instant::now();
        let (component, kind) = to_component(bytes)?;
        let compiled = inner.runtime.compile(&component)?;
        let previous = self.info(tenant, name);
        let info = PluginInfo {
            name: name.to_owned(),
            size: bytes.len(),
            sha256: hex::encode(Sha256::digest(bytes)),
            world: compiled.code.world().to_owned(),
            kind: kind.to_owned(),
            uploaded: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            capabilities: (previous.as_ref())
                .map(|p| p.capabilities.clone())
                .unwrap_or_default(),
            limits: PluginLimits::default(),
            limit_overrides: previous.map(|p| p.limit_overrides).unwrap_or_default(),
        };
        let loaded = self.loaded(tenant, info, compiled.code)?;
        inner.artifacts.put(&loaded.info.sha256, &compiled.artifact);
        inner.space.write(&[
            (&key("meta", tenant, name), Some(&meta(&loaded.info))),
            (&key("wasm", tenant, name), Some(bytes)),
        ])?;
        tracing::info!(
            tenant,
            plugin = name,
            kind,
            bytes = bytes.len(),
            "compiled and stored in {:.0?}",
            started.elapsed()
        );
        let info = self.swap_in(tenant, loaded);
        self.forget_unused_artifacts();
        Ok(info)
    }

    /// `tenant`'s plugin with its settings in effect under the tenant's memory ceiling.
    fn loaded(&self, tenant: &str, info: PluginInfo, code: Code) -> Result<Loaded, PluginError> {
        let ceiling = self.inner.tenants.quotas(tenant).memory_mb;
        Loaded::new(tenant, self.inner.runtime.limits(), ceiling, info, code)
    }

    /// Changes a plugin's capabilities or limits for every later invocation.
    pub fn configure(
        &self,
        tenant: &str,
        name: &str,
        patch: SettingsPatch,
    ) -> Result<PluginInfo, PluginError> {
        let inner = &self.inner;
        let current = self
            .get(tenant, name)
            .ok_or_else(|| PluginError::NotFound(name.to_owned()))?;
        let mut info = current.info.clone();
        if let Some(capabilities) = patch.capabilities {
            (capabilities.validate(inner.store.kinds())).map_err(PluginError::Settings)?;
            info.capabilities = capabilities;
        }
        if let Some(overrides) = &patch.limits {
            let asked = overrides.get("memoryMb").and_then(Value::as_u64);
            let ceiling = inner.tenants.quotas(tenant).memory_mb;
            if let (Some(asked), Some(ceiling)) = (asked, ceiling)
                && asked > ceiling
            {
                return Err(PluginError::Quota(format!(
                    "memoryMb quota: this tenant's plugins may be given up to {ceiling} MiB, \
                     not {asked}"
                )));
            }
            merge_overrides(&mut info.limit_overrides, overrides);
        }
        let loaded = self.loaded(tenant, info, current.plugin.code().clone())?;
        inner
            .space
            .put(&key("meta", tenant, name), &meta(&loaded.info))?;
        Ok(self.swap_in(tenant, loaded))
    }

    /// Applies `tenant`'s quotas as they are now to its loaded plugins (a lower `memoryMb`
    /// ceiling takes effect from their next invocation).
    pub fn requota(&self, tenant: &str) {
        let current: Vec<Arc<Loaded>> = (self.inner.loaded.read().get(tenant).into_iter())
            .flat_map(|plugins| plugins.values().cloned())
            .collect();
        for loaded in current {
            let code = loaded.plugin.code().clone();
            match self.loaded(tenant, loaded.info.clone(), code) {
                Ok(loaded) => drop(self.swap_in(tenant, loaded)),
                Err(e) => tracing::error!(tenant, plugin = %loaded.info.name, "{e}"),
            }
        }
    }

    fn swap_in(&self, tenant: &str, loaded: Loaded) -> PluginInfo {
        let info = loaded.info.clone();
        let mut map = self.inner.loaded.write();
        let plugins = map.entry(tenant.to_owned()).or_default();
        plugins.insert(info.name.clone(), Arc::new(loaded));
        info
    }

    /// Removes `tenant`'s plugin; returns whether it existed.
    pub fn remove(&self, tenant: &str, name: &str) -> Result<bool, PluginError> {
        let inner = &self.inner;
        let (meta_key, wasm_key) = (key("meta", tenant, name), key("wasm", tenant, name));
        let existed = inner.space.get(&meta_key)?.is_some();
        inner.space.write(&[(&meta_key, None), (&wasm_key, None)])?;
        if let Some(plugins) = inner.loaded.write().get_mut(tenant) {
            plugins.remove(name);
        }
        inner.runtime.forget(tenant, name);
        self.forget_unused_artifacts();
        Ok(existed)
    }

    /// Removes every plugin of `tenant`.
    pub fn remove_tenant(&self, tenant: &str) -> Result<(), PluginError> {
        for info in self.list(tenant) {
            self.remove(tenant, &info.name)?;
        }
        self.inner.loaded.write().remove(tenant);
        Ok(())
    }

    /// Removes cached code that no loaded plugin's upload has any more.
    fn forget_unused_artifacts(&self) {
        let used: Vec<String> = (self.inner.loaded.read().values())
            .flat_map(|plugins| plugins.values().map(|loaded| loaded.info.sha256.clone()))
            .collect();
        (self.inner.artifacts).retain(|digest| used.iter().any(|used| used == digest));
    }

    /// Loads every stored plugin, from its cached code where that can be used, compiling (and
    /// caching) it otherwise. A plugin that cannot be loaded is logged and left out.
    fn load_all(&self) -> Result<(), PluginError> {
        self.move_legacy()?;
        self.reload_all()
    }

    /// Moves plugins stored before tenants (`meta/<name>`, `wasm/<name>`) into the default
    /// tenant, each in one write.
    fn move_legacy(&self) -> Result<(), PluginError> {
        let space = &self.inner.space;
        for (old_meta, meta) in space.list("meta/")? {
            let name = &old_meta["meta/".len()..];
            if name.contains('/') {
                continue;
            }
            let old_wasm = format!("wasm/{name}");
            let wasm = space.get(&old_wasm)?;
            space.write(&[
                (&key("meta", DEFAULT_TENANT, name), Some(&meta)),
                (&key("wasm", DEFAULT_TENANT, name), wasm.as_deref()),
                (&old_meta, None),
                (&old_wasm, None),
            ])?;
            tracing::info!(plugin = name, "moved into the `{DEFAULT_TENANT}` tenant");
        }
        Ok(())
    }

    fn load(&self, tenant: &str, info: &PluginInfo) -> Result<Code, PluginError> {
        let inner = &self.inner;
        if let Some(artifact) = inner.artifacts.get(&info.sha256) {
            // SAFETY: this instance's cache holds only what its `Runtime::compile` produced
            // (see `install` and below), under the digest of the upload it was compiled from.
            match unsafe { inner.runtime.load(&artifact) } {
                Ok(code) => return Ok(code),
                Err(e) => tracing::info!(plugin = %info.name, "compiling again: {e}"),
            }
        }
        let bytes = (inner.space.get(&key("wasm", tenant, &info.name))?).ok_or_else(|| {
            PluginError::Settings(format!("the upload of `{}` is missing", info.name))
        })?;
        let (component, _) = to_component(&bytes)?;
        let compiled = inner.runtime.compile(&component)?;
        inner.artifacts.put(&info.sha256, &compiled.artifact);
        Ok(compiled.code)
    }
}
