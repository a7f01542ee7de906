//! Turns an uploaded core WebAssembly module of one of our worlds (`plugin`, or `broker-hooks`
//! or `lifecycle-hooks` when it exports their functions) into a component.
//!
//! Toolchains such as AssemblyScript emit core modules: they follow the canonical ABI's naming
//! (`switchyard:plugin/objects@0.2.0` imports, a `switchyard:plugin/handler@0.2.0#handle`
//! export, `cabi_realloc`) but carry no component types; the version in those names says which
//! contract's WIT they are wrapped with. Embedding the world's WIT and letting
//! `wit-component` wrap the module means a user uploads one file whatever their language. When
//! wrapping fails, the module's imports and exports are checked against the world so the error
//! names the offending item instead of a wit-component internal.

use std::collections::{BTreeMap, HashMap};

use wasmparser::{ExternalKind, Parser, Payload, TypeRef};
use wit_component::{ComponentEncoder, StringEncoding, embed_component_metadata};
use wit_parser::{Resolve, WorldId, WorldItem};

const WIT: &str = include_str!("../../../wit/plugin.wit");
/// The earlier contracts, for modules built against them, by version.
const EARLIER_WITS: [(&str, &str); 2] = [
    (
        "0.1.0",
        include_str!("../../../wit/legacy/0.1.0/plugin.wit"),
    ),
    (
        "0.2.0",
        include_str!("../../../wit/legacy/0.2.0/plugin.wit"),
    ),
];
const PACKAGE: &str = "switchyard:plugin/";
const HOOKS_MARK: &str = "switchyard:plugin/hooks@";
const LIFECYCLE_MARK: &str = "switchyard:plugin/lifecycle@";

/// Wraps `module` (a core module of one of our worlds) into a validated component.
pub(crate) fn componentize(module: &[u8]) -> Result<Vec<u8>, String> {
    if !Parser::is_core_wasm(module) {
        return Err(if Parser::is_component(module) {
            "expected a core WebAssembly module, got a component".to_string()
        } else {
            "not a core WebAssembly module (the file does not start with the wasm magic number \
             and version 1)"
                .to_string()
        });
    }
    wasmparser::Validator::new()
        .validate_all(module)
        .map_err(|e| format!("invalid core module: {e}"))?;

    let (wit, name) = contract_of(module);
    let (resolve, world) = plugin_world(wit, name)?;
    let label = label(name);
    let mut bytes = module.to_vec();
    embed_component_metadata(&mut bytes, &resolve, world, StringEncoding::UTF8, false)
        .map_err(|e| format!("embedding the {label} world failed: {e:#}"))?;
    let mut encoder = ComponentEncoder::default();
    encoder
        .validate(true)
        .module(&bytes)
        .and_then(|encoder| encoder.encode())
        .map_err(|error| {
            WorldAbi::new(&resolve, world, label)
                .explain(module)
                .unwrap_or_else(|| format!("the module does not fit the {label} world: {error:#}"))
        })
}

/// The contract (WIT text, world) a module was built against: the version its
/// `switchyard:plugin` names carry, and the world by what it exports (broker hooks, lifecycle
/// hooks, or else a message handler).
fn contract_of(module: &[u8]) -> (&'static str, &'static str) {
    let mut names = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        match payload {
            Ok(Payload::ImportSection(reader)) => {
                names.extend((reader.into_imports().flatten()).map(|import| (import.module, false)))
            }
            Ok(Payload::ExportSection(reader)) => {
                names.extend(
                    reader
                        .into_iter()
                        .flatten()
                        .map(|export| (export.name, true)),
                );
            }
            _ => {}
        }
    }
    let version = names.iter().find_map(|(name, _)| {
        let (_, version) = name.strip_prefix(PACKAGE)?.split_once('@')?;
        Some(version.split('#').next().unwrap_or(version))
    });
    let wit = (EARLIER_WITS.iter())
        .find(|(earlier, _)| Some(*earlier) == version)
        .map_or(WIT, |(_, wit)| wit);
    let exports = |mark: &str| {
        names
            .iter()
            .any(|(n, export)| *export && n.starts_with(mark))
    };
    let world = if exports(HOOKS_MARK) {
        "broker-hooks"
    } else if exports(LIFECYCLE_MARK) {
        "lifecycle-hooks"
    } else {
        "plugin"
    };
    (wit, world)
}

/// How errors name a world.
fn label(world: &str) -> &'static str {
    match world {
        "broker-hooks" => "switchyard:plugin broker-hooks",
        "lifecycle-hooks" => "switchyard:plugin lifecycle-hooks",
        _ => "switchyard:plugin",
    }
}

fn plugin_world(wit: &str, name: &str) -> Result<(Resolve, WorldId), String> {
    let mut resolve = Resolve::default();
    let package = resolve
        .push_str("plugin.wit", wit)
        .map_err(|e| format!("the built-in WIT does not parse: {e:#}"))?;
    let world = resolve
        .select_world(&[package], Some(name))
        .map_err(|e| format!("the built-in WIT has no `{name}` world: {e:#}"))?;
    Ok((resolve, world))
}

/// The core-module names the world's canonical ABI uses.
struct WorldAbi {
    /// Import module (an interface, e.g. `switchyard:plugin/objects@0.2.0`) -> its functions.
    imports: BTreeMap<String, Vec<String>>,
    /// Exports the module must have, with what each must be.
    required_exports: Vec<(String, ExternalKind)>,
    /// The world, in errors.
    label: &'static str,
}

impl WorldAbi {
    fn new(resolve: &Resolve, world: WorldId, label: &'static str) -> WorldAbi {
        let functions = |item: &WorldItem| match item {
            WorldItem::Interface { id, .. } => {
                resolve.interfaces[*id].functions.keys().cloned().collect()
            }
            WorldItem::Function(f) => vec![f.name.clone()],
            WorldItem::Type { .. } => Vec::new(),
        };
        let world = &resolve.worlds[world];
        let imports = world
            .imports
            .iter()
            .map(|(key, item)| (resolve.name_world_key(key), functions(item)))
            .filter(|(_, functions)| !functions.is_empty())
            .collect();
        let mut required_exports = vec![
            ("memory".to_string(), ExternalKind::Memory),
            ("cabi_realloc".to_string(), ExternalKind::Func),
        ];
        for (key, item) in &world.exports {
            let interface = resolve.name_world_key(key);
            for function in functions(item) {
                required_exports.push((format!("{interface}#{function}"), ExternalKind::Func));
            }
        }
        WorldAbi {
            imports,
            required_exports,
            label,
        }
    }

    /// The first import or export of `module` that does not fit the world, in words; `None` if
    /// the names all fit (then the problem is deeper, e.g. a signature).
    fn explain(&self, module: &[u8]) -> Option<String> {
        let mut exports = HashMap::new();
        for payload in Parser::new(0).parse_all(module) {
            match payload.ok()? {
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import.ok()?;
                        if let Some(problem) =
                            self.check_import(import.module, import.name, import.ty)
                        {
                            return Some(problem);
                        }
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.ok()?;
                        exports.insert(export.name.to_string(), export.kind);
                    }
                }
                _ => {}
            }
        }
        self.required_exports
            .iter()
            .find_map(|(name, kind)| match exports.get(name) {
                Some(found) if found == kind => None,
                Some(found) => Some(format!(
                    "export `{name}` is a {}, expected a {}",
                    kind_name(*found),
                    kind_name(*kind)
                )),
                None => Some(format!(
                    "missing export `{name}`, which the {} world requires",
                    self.label
                )),
            })
    }

    fn check_import(&self, module: &str, name: &str, ty: TypeRef) -> Option<String> {
        if !matches!(ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
            return Some(format!(
                "core module imports `{module}.{name}`, which is not a function; a plugin defines \
                 and exports its own memory and imports only the world's functions"
            ));
        }
        let Some(functions) = self.imports.get(module) else {
            let provided = self
                .imports
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            return Some(format!(
                "core module imports `{module}.{name}`, which the {} world does not provide (it \
                 provides functions of {provided}){}",
                self.label,
                hint(module, name)
            ));
        };
        if !functions.iter().any(|f| f == name) {
            return Some(format!(
                "core module imports `{module}.{name}`, but `{module}` has no function `{name}` \
                 (it has {})",
                functions.join(", ")
            ));
        }
        None
    }
}

/// What usually causes a foreign import, for the toolchains we expect.
fn hint(module: &str, name: &str) -> &'static str {
    match (module, name) {
        ("env", "abort" | "trace" | "seed") => {
            "; AssemblyScript: build with the switchyard-plugin SDK's asconfig.json, which routes \
             `abort`, `trace` and `seed` to the logging import"
        }
        (m, _) if m.starts_with("wasi") => {
            "; plugins get no WASI (files, clock, environment): use the switchyard:plugin imports"
        }
        _ => "",
    }
}

fn kind_name(kind: ExternalKind) -> &'static str {
    match kind {
        ExternalKind::Func | ExternalKind::FuncExact => "function",
        ExternalKind::Table => "table",
        ExternalKind::Memory => "memory",
        ExternalKind::Global => "global",
        ExternalKind::Tag => "tag",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal core module of the world: one import, the handler (14 flattened parameters of
    /// the `message` record in, a pointer to the `result<_, string>` out), post-return,
    /// `cabi_realloc` and memory, plus the given `imports` and `exports`.
    fn module(imports: &str, exports: &str) -> Vec<u8> {
        wat::parse_str(module_text(imports, exports)).expect("test WAT parses")
    }

    fn module_text(imports: &str, exports: &str) -> String {
        let handle_params = "i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i64";
        format!(
            r#"(module
                (import "switchyard:plugin/logging@0.2.0" "log" (func (param i32 i32 i32)))
                {imports}
                (memory (export "memory") 1)
                (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 8)
                (func $handle (param {handle_params}) (result i32) i32.const 0)
                (func $post (param i32))
                {exports}
            )"#
        )
    }

    const HANDLE_EXPORTS: &str = r#"
        (export "switchyard:plugin/handler@0.2.0#handle" (func $handle))
        (export "cabi_post_switchyard:plugin/handler@0.2.0#handle" (func $post))"#;

    /// The component's world as (imports, exports) interface names.
    fn component_world(component: &[u8]) -> (Vec<String>, Vec<String>) {
        let wit_component::DecodedWasm::Component(resolve, world) =
            wit_component::decode(component).expect("the component decodes")
        else {
            panic!("decoded a WIT package, expected a component");
        };
        let world = &resolve.worlds[world];
        let names = |items: &wit_parser::IndexMap<_, _>| {
            items
                .keys()
                .map(|key| resolve.name_world_key(key))
                .collect::<Vec<_>>()
        };
        (names(&world.imports), names(&world.exports))
    }

    #[test]
    fn a_module_of_the_world_becomes_a_component_of_the_world() {
        let objects = r#"(import "switchyard:plugin/objects@0.2.0" "create" (func (param i32 i32 i32 i32 i32)))"#;
        let component = componentize(&module(objects, HANDLE_EXPORTS)).expect("componentizes");
        let (imports, exports) = component_world(&component);
        assert_eq!(exports, ["switchyard:plugin/handler@0.2.0"]);
        for used in [
            "switchyard:plugin/objects@0.2.0",
            "switchyard:plugin/logging@0.2.0",
        ] {
            assert!(
                imports.iter().any(|i| i == used),
                "{used} missing from {imports:?}"
            );
        }
    }

    #[test]
    fn a_module_of_the_current_world_becomes_a_current_component() {
        // The message (14 flat values) and its subscriber (3) are more than the canonical ABI
        // passes flat, so the handler gets a pointer to them.
        let current = module_text("", "").replace("@0.2.0", "@0.2.1").replace(
            "(func $post (param i32))",
            r#"(func (export "switchyard:plugin/message-handler@0.2.1#handle")
                       (param i32) (result i32) i32.const 0)
                   (func (export "cabi_post_switchyard:plugin/message-handler@0.2.1#handle")
                       (param i32))"#,
        );
        let component = componentize(&wat::parse_str(current).unwrap()).expect("componentizes");
        let (imports, exports) = component_world(&component);
        assert_eq!(exports, ["switchyard:plugin/message-handler@0.2.1"]);
        assert_eq!(
            imports,
            [
                "switchyard:plugin/types@0.2.1",
                "switchyard:plugin/logging@0.2.1"
            ]
        );
    }

    #[test]
    fn a_module_of_the_0_1_0_world_becomes_a_0_1_0_component() {
        let legacy = |text: &str| text.replace("@0.2.0", "@0.1.0");
        let wat = legacy(&module_text("", HANDLE_EXPORTS));
        let component = componentize(&wat::parse_str(wat).unwrap()).expect("componentizes");
        let (imports, exports) = component_world(&component);
        assert_eq!(exports, ["switchyard:plugin/handler@0.1.0"]);
        assert!(imports.contains(&"switchyard:plugin/logging@0.1.0".to_owned()));
        assert!(imports.iter().all(|i| i.ends_with("@0.1.0")), "{imports:?}");
    }

    /// A core module of the broker-hooks world: the three hooks (the `device` record's 7
    /// flattened values, then the password, or the filter or topic and the QoS), post-returns,
    /// `cabi_realloc` and memory, plus the given `imports`.
    fn hooks_module(imports: &str) -> Vec<u8> {
        let device = "i32 i32 i32 i32 i32 i32 i32";
        let mut exports = String::new();
        for (hook, params) in [
            ("authenticate", "i32 i32"),
            ("authorize-subscribe", "i32 i32 i32"),
            ("authorize-publish", "i32 i32 i32"),
        ] {
            exports += &format!(
                r#"(func (export "switchyard:plugin/hooks@0.2.0#{hook}")
                       (param {device} {params}) (result i32) i32.const 0)
                   (func (export "cabi_post_switchyard:plugin/hooks@0.2.0#{hook}") (param i32))"#
            );
        }
        wat::parse_str(format!(
            r#"(module {imports}
                (memory (export "memory") 1)
                (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 8)
                {exports})"#
        ))
        .expect("test WAT parses")
    }

    #[test]
    fn a_module_exporting_hooks_becomes_a_broker_hooks_component() {
        let log = r#"(import "switchyard:plugin/logging@0.2.0" "log" (func (param i32 i32 i32)))"#;
        let component = componentize(&hooks_module(log)).expect("componentizes");
        assert_eq!(
            component_world(&component),
            (
                vec!["switchyard:plugin/logging@0.2.0".to_owned()],
                vec!["switchyard:plugin/hooks@0.2.0".to_owned()]
            )
        );
    }

    #[test]
    fn broker_hooks_may_only_log() {
        let objects = r#"(import "switchyard:plugin/objects@0.2.0" "create" (func (param i32 i32 i32 i32 i32)))"#;
        let error = componentize(&hooks_module(objects)).unwrap_err();
        assert!(
            error.starts_with(
                "core module imports `switchyard:plugin/objects@0.2.0.create`, which the \
                 switchyard:plugin broker-hooks world does not provide (it provides functions of \
                 switchyard:plugin/logging@0.2.0)"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_missing_handler_export_is_named() {
        let error = componentize(&module("", "")).unwrap_err();
        assert_eq!(
            error,
            "missing export `switchyard:plugin/handler@0.2.0#handle`, which the switchyard:plugin \
             world requires"
        );
    }

    #[test]
    fn a_foreign_import_is_named_with_a_hint() {
        let abort = r#"(import "env" "abort" (func (param i32 i32 i32 i32)))"#;
        let error = componentize(&module(abort, HANDLE_EXPORTS)).unwrap_err();
        assert!(
            error.starts_with(
                "core module imports `env.abort`, which the switchyard:plugin world does not provide"
            ),
            "{error}"
        );
        assert!(error.contains("AssemblyScript"), "{error}");
    }

    #[test]
    fn an_unknown_function_of_a_world_interface_is_named() {
        let import = r#"(import "switchyard:plugin/objects@0.2.0" "drop-all" (func))"#;
        let error = componentize(&module(import, HANDLE_EXPORTS)).unwrap_err();
        assert_eq!(
            error,
            "core module imports `switchyard:plugin/objects@0.2.0.drop-all`, but \
             `switchyard:plugin/objects@0.2.0` has no function `drop-all` (it has create, get, \
             find, update, delete)"
        );
    }

    #[test]
    fn an_imported_memory_is_refused() {
        let memory = r#"(import "env" "memory" (memory 1))"#;
        let wat = format!(
            r#"(module {memory}
                (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) i32.const 8))"#
        );
        let error = componentize(&wat::parse_str(wat).unwrap()).unwrap_err();
        assert!(
            error.contains("`env.memory`, which is not a function"),
            "{error}"
        );
    }

    #[test]
    fn a_wrong_import_signature_is_reported_by_name() {
        let import = r#"(import "switchyard:plugin/objects@0.2.0" "get" (func (param i32)))"#;
        let error = componentize(&module(import, HANDLE_EXPORTS)).unwrap_err();
        assert!(
            error.starts_with("the module does not fit the switchyard:plugin world"),
            "{error}"
        );
        assert!(
            error.contains("type mismatch for function `get`"),
            "{error}"
        );
    }

    #[test]
    fn components_and_non_wasm_are_refused() {
        let component = componentize(&module("", HANDLE_EXPORTS)).unwrap();
        assert_eq!(
            componentize(&component).unwrap_err(),
            "expected a core WebAssembly module, got a component"
        );
        assert!(
            componentize(b"#!/bin/sh\n")
                .unwrap_err()
                .starts_with("not a core WebAssembly module")
        );
        let truncated = &module("", HANDLE_EXPORTS)[..40];
        assert!(
            componentize(truncated)
                .unwrap_err()
                .starts_with("invalid core module: ")
        );
    }
}
