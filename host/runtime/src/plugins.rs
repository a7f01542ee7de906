//! The plugin registry: validation against our world, compilation, the compiled-artifact cache
//! in sled (so a restart does not recompile), and the hot-swappable set of loaded plugins.

use crate::capabilities::Capabilities;
use crate::limits::{Limits, PluginLimits, merge_overrides};
use crate::metrics::PluginMetrics;
use crate::sandbox::{Sandbox, Settings};
use crate::{bindings, legacy};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

/// The world plugins implement, as shown by the API.
pub const WORLD: &str = "switchyard:plugin/plugin@0.2.0";
/// The earlier world, whose plugins still load and run.
pub const LEGACY_WORLD: &str = "switchyard:plugin/plugin@0.1.0";

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

/// Why an upload was refused.
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
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<sled::Error> for PluginError {
    fn from(err: sled::Error) -> Self {
        PluginError::Storage(err.to_string())
    }
}

impl From<switchyard_store::Error> for PluginError {
    fn from(err: switchyard_store::Error) -> Self {
        PluginError::Storage(err.to_string())
    }
}

/// A plugin ready to run: instantiation is pre-resolved, so a message pays only for a fresh
/// instance.
pub(crate) struct Loaded {
    pub info: PluginInfo,
    pub pre: Pre,
    pub settings: Arc<Settings>,
    pub metrics: PluginMetrics,
}

/// A pre-instantiated plugin of either world.
#[derive(Clone)]
pub(crate) enum Pre {
    Current(bindings::PluginPre<Sandbox>),
    Legacy(legacy::PluginPre<Sandbox>),
}

impl Pre {
    fn world(&self) -> &'static str {
        match self {
            Pre::Current(_) => WORLD,
            Pre::Legacy(_) => LEGACY_WORLD,
        }
    }
}

impl Loaded {
    /// Computes the plugin's settings in effect and keeps them beside its code.
    fn new(limits: &Limits, mut info: PluginInfo, pre: Pre) -> Result<Loaded, PluginError> {
        info.limits = (limits.with_overrides(&info.limit_overrides))
            .map_err(|e| PluginError::Settings(e.to_string()))?;
        info.world = pre.world().to_owned();
        let settings = Arc::new(Settings {
            capabilities: info.capabilities.clone(),
            limits: info.limits.clone(),
        });
        Ok(Loaded {
            metrics: PluginMetrics::new(&info.name),
            info,
            pre,
            settings,
        })
    }
}

/// Stored plugins and the loaded set. Keys in the tree: `meta/<name>` (PluginInfo JSON),
/// `wasm/<name>` (the uploaded bytes) and `aot/<name>` (the compiled artifact).
pub(crate) struct Registry {
    tree: sled::Tree,
    loaded: RwLock<HashMap<String, Arc<Loaded>>>,
}

fn key(kind: &str, name: &str) -> Vec<u8> {
    format!("{kind}/{name}").into_bytes()
}

fn validate_name(name: &str) -> Result<(), PluginError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(PluginError::InvalidName(name.to_owned()))
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
        let component = crate::componentize::componentize(bytes).map_err(|e| {
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

impl Registry {
    pub(crate) fn open(store: &switchyard_store::Store) -> Result<Registry, PluginError> {
        Ok(Registry {
            tree: store.tree("plugins")?,
            loaded: RwLock::default(),
        })
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<Loaded>> {
        self.loaded.read().expect("plugin map").get(name).cloned()
    }

    pub(crate) fn list(&self) -> Vec<PluginInfo> {
        let mut infos: Vec<_> = (self.loaded.read().expect("plugin map").values())
            .map(|l| l.info.clone())
            .collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        infos
    }

    /// Validates, compiles, stores and swaps in a plugin.
    /// A replaced plugin keeps its capabilities and limits.
    pub(crate) fn install(
        &self,
        engine: &Engine,
        linker: &Linker<Sandbox>,
        limits: &Limits,
        name: &str,
        bytes: &[u8],
    ) -> Result<PluginInfo, PluginError> {
        validate_name(name)?;
        let started = std::time::Instant::now();
        let (component_bytes, kind) = to_component(bytes)?;
        let component = Component::new(engine, &component_bytes)
            .map_err(|e| PluginError::WrongWorld(format!("{e:#}")))?;
        let pre = prepare(linker, &component)?;
        let previous = self.get(name).map(|l| l.info.clone());
        let info = PluginInfo {
            name: name.to_owned(),
            size: bytes.len(),
            sha256: hex::encode(Sha256::digest(bytes)),
            world: pre.world().to_owned(),
            kind: kind.to_owned(),
            uploaded: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            capabilities: previous
                .as_ref()
                .map(|p| p.capabilities.clone())
                .unwrap_or_default(),
            limits: PluginLimits::default(),
            limit_overrides: previous.map(|p| p.limit_overrides).unwrap_or_default(),
        };
        let loaded = Loaded::new(limits, info, pre)?;
        let artifact = component
            .serialize()
            .map_err(|e| PluginError::Compile(format!("{e:#}")))?;
        let mut batch = sled::Batch::default();
        batch.insert(key("meta", name), meta(&loaded.info));
        batch.insert(key("wasm", name), bytes);
        batch.insert(key("aot", name), artifact);
        self.tree.apply_batch(batch)?;
        self.tree.flush()?;
        tracing::info!(
            plugin = name,
            kind,
            bytes = bytes.len(),
            "compiled and stored in {:.0?}",
            started.elapsed()
        );
        Ok(self.swap_in(loaded))
    }

    /// Changes a plugin's capabilities or limits for every later invocation.
    pub(crate) fn configure(
        &self,
        limits: &Limits,
        name: &str,
        patch: SettingsPatch,
    ) -> Result<PluginInfo, PluginError> {
        let current = self
            .get(name)
            .ok_or_else(|| PluginError::NotFound(name.to_owned()))?;
        let mut info = current.info.clone();
        if let Some(capabilities) = patch.capabilities {
            capabilities.validate().map_err(PluginError::Settings)?;
            info.capabilities = capabilities;
        }
        if let Some(overrides) = &patch.limits {
            merge_overrides(&mut info.limit_overrides, overrides);
        }
        let loaded = Loaded::new(limits, info, current.pre.clone())?;
        self.tree.insert(key("meta", name), meta(&loaded.info))?;
        self.tree.flush()?;
        Ok(self.swap_in(loaded))
    }

    fn swap_in(&self, loaded: Loaded) -> PluginInfo {
        let info = loaded.info.clone();
        let mut map = self.loaded.write().expect("plugin map");
        map.insert(info.name.clone(), Arc::new(loaded));
        info
    }

    pub(crate) fn remove(&self, name: &str) -> Result<bool, PluginError> {
        let mut batch = sled::Batch::default();
        for kind in ["meta", "wasm", "aot"] {
            batch.remove(key(kind, name));
        }
        let existed = self.tree.contains_key(key("meta", name))?;
        self.tree.apply_batch(batch)?;
        self.tree.flush()?;
        self.loaded.write().expect("plugin map").remove(name);
        Ok(existed)
    }

    /// Loads every stored plugin from its compiled artifact, recompiling (and re-caching) only
    /// when the artifact is missing or was made by an incompatible engine.
    pub(crate) fn load_all(
        &self,
        engine: &Engine,
        linker: &Linker<Sandbox>,
        limits: &Limits,
    ) -> anyhow::Result<()> {
        for entry in self.tree.scan_prefix(b"meta/") {
            let (_, meta) = entry?;
            let info: PluginInfo = serde_json::from_slice(&meta)?;
            let name = info.name.clone();
            let loaded =
                (self.load(engine, linker, &info)).and_then(|pre| Loaded::new(limits, info, pre));
            match loaded {
                Ok(loaded) => drop(self.swap_in(loaded)),
                Err(e) => tracing::error!(plugin = %name, "cannot load stored plugin: {e}"),
            }
        }
        Ok(())
    }

    fn load(
        &self,
        engine: &Engine,
        linker: &Linker<Sandbox>,
        info: &PluginInfo,
    ) -> Result<Pre, PluginError> {
        if let Some(artifact) = self.tree.get(key("aot", &info.name))? {
            // SAFETY: artifacts in this tree are written only by `install` from
            // `Component::serialize` of this engine configuration; wasmtime still checks the
            // header and rejects artifacts from an incompatible engine, which we recompile.
            match unsafe { Component::deserialize(engine, &artifact) } {
                Ok(component) => return prepare(linker, &component),
                Err(e) => tracing::info!(plugin = %info.name, "recompiling: {e}"),
            }
        }
        let bytes = self
            .tree
            .get(key("wasm", &info.name))?
            .ok_or_else(|| PluginError::Storage(format!("bytes of `{}` missing", info.name)))?;
        let (component_bytes, _) = to_component(&bytes)?;
        let component = Component::new(engine, &component_bytes)
            .map_err(|e| PluginError::Compile(format!("{e:#}")))?;
        let artifact = component
            .serialize()
            .map_err(|e| PluginError::Compile(format!("{e:#}")))?;
        self.tree.insert(key("aot", &info.name), artifact)?;
        prepare(linker, &component)
    }
}

fn meta(info: &PluginInfo) -> Vec<u8> {
    serde_json::to_vec(info).expect("info serializes")
}

/// Resolves imports and checks exports once, so every message only instantiates. A component
/// that does not export the current handler may still be a 0.1.0 plugin.
fn prepare(linker: &Linker<Sandbox>, component: &Component) -> Result<Pre, PluginError> {
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| PluginError::WrongWorld(format!("{e:#}")))?;
    match bindings::PluginPre::new(pre.clone()) {
        Ok(current) => Ok(Pre::Current(current)),
        Err(error) => match legacy::PluginPre::new(pre) {
            Ok(old) => Ok(Pre::Legacy(old)),
            Err(_) => Err(PluginError::WrongWorld(format!("{error:#}"))),
        },
    }
}
