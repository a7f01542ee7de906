//! The plugin registry: validation against our world, compilation, the compiled-artifact cache
//! in sled (so a restart does not recompile), and the hot-swappable set of loaded plugins.

use crate::bindings::PluginPre;
use crate::sandbox::Sandbox;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

/// The world every plugin implements, as shown by the API.
pub const WORLD: &str = "switchyard:plugin/plugin@0.1.0";

/// What the API shows about a plugin.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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
    pub pre: PluginPre<Sandbox>,
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
    pub(crate) fn install(
        &self,
        engine: &Engine,
        linker: &Linker<Sandbox>,
        name: &str,
        bytes: &[u8],
    ) -> Result<PluginInfo, PluginError> {
        validate_name(name)?;
        let (component_bytes, kind) = to_component(bytes)?;
        let component = Component::new(engine, &component_bytes)
            .map_err(|e| PluginError::WrongWorld(format!("{e:#}")))?;
        let pre = prepare(linker, &component)?;
        let info = PluginInfo {
            name: name.to_owned(),
            size: bytes.len(),
            sha256: hex::encode(Sha256::digest(bytes)),
            world: WORLD.to_owned(),
            kind: kind.to_owned(),
            uploaded: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        let artifact = component
            .serialize()
            .map_err(|e| PluginError::Compile(format!("{e:#}")))?;
        let mut batch = sled::Batch::default();
        batch.insert(
            key("meta", name),
            serde_json::to_vec(&info).expect("info serializes"),
        );
        batch.insert(key("wasm", name), bytes);
        batch.insert(key("aot", name), artifact);
        self.tree.apply_batch(batch)?;
        self.tree.flush()?;
        let loaded = Arc::new(Loaded {
            info: info.clone(),
            pre,
        });
        self.loaded
            .write()
            .expect("plugin map")
            .insert(name.to_owned(), loaded);
        Ok(info)
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
    pub(crate) fn load_all(&self, engine: &Engine, linker: &Linker<Sandbox>) -> anyhow::Result<()> {
        for entry in self.tree.scan_prefix(b"meta/") {
            let (_, meta) = entry?;
            let info: PluginInfo = serde_json::from_slice(&meta)?;
            match self.load(engine, linker, &info) {
                Ok(pre) => {
                    let name = info.name.clone();
                    let loaded = Arc::new(Loaded { info, pre });
                    self.loaded
                        .write()
                        .expect("plugin map")
                        .insert(name, loaded);
                }
                Err(e) => tracing::error!(plugin = %info.name, "cannot load stored plugin: {e}"),
            }
        }
        Ok(())
    }

    fn load(
        &self,
        engine: &Engine,
        linker: &Linker<Sandbox>,
        info: &PluginInfo,
    ) -> Result<PluginPre<Sandbox>, PluginError> {
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

/// Resolves imports and checks exports once, so every message only instantiates.
fn prepare(
    linker: &Linker<Sandbox>,
    component: &Component,
) -> Result<PluginPre<Sandbox>, PluginError> {
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| PluginError::WrongWorld(format!("{e:#}")))?;
    PluginPre::new(pre).map_err(|e| PluginError::WrongWorld(format!("{e:#}")))
}
