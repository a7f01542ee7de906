//! `switchyard plugin new` and `plugin build`: a plugin project that builds out of the box, and
//! building one. The SDKs are not on a registry, so a new project carries its own copy of the
//! SDK (and, for Rust, the WIT world), embedded in this binary when it was built; the rest
//! (serde, wit-bindgen, AssemblyScript) comes from crates.io and npm.

use super::CliError;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Lang {
    Rust,
    Assemblyscript,
}

/// A file of the repository, by its path in it.
macro_rules! repo_file {
    ($path:literal) => {
        include_str!(concat!("../../../../", $path))
    };
}

/// Files copied from the repository as they are, by their path in it.
macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, repo_file!($path))),*]
    };
}

const RUST_SDK: &[(&str, &str)] = embed![
    "wit/plugin.wit",
    "sdk/rust/Cargo.toml",
    "sdk/rust/src/lib.rs",
    "sdk/rust/src/error.rs",
    "sdk/rust/src/hooks.rs",
    "sdk/rust/src/json.rs",
    "sdk/rust/src/lifecycle.rs",
    "sdk/rust/src/log.rs",
    "sdk/rust/src/message.rs",
    "sdk/rust/src/messaging.rs",
    "sdk/rust/src/objects.rs",
    "sdk/rust/src/query.rs",
];

const AS_SDK: &[(&str, &str)] = embed![
    "sdk/assemblyscript/package.json",
    "sdk/assemblyscript/asconfig.json",
    "sdk/assemblyscript/index.ts",
    "sdk/assemblyscript/exports.ts",
    "sdk/assemblyscript/hooks.ts",
    "sdk/assemblyscript/lifecycle.ts",
    "sdk/assemblyscript/transform.js",
    "sdk/assemblyscript/assembly/abi.ts",
    "sdk/assemblyscript/assembly/exports.ts",
    "sdk/assemblyscript/assembly/handler.ts",
    "sdk/assemblyscript/assembly/hooks.ts",
    "sdk/assemblyscript/assembly/hooks-exports.ts",
    "sdk/assemblyscript/assembly/host.ts",
    "sdk/assemblyscript/assembly/index.ts",
    "sdk/assemblyscript/assembly/json.ts",
    "sdk/assemblyscript/assembly/lifecycle.ts",
    "sdk/assemblyscript/assembly/lifecycle-exports.ts",
    "sdk/assemblyscript/assembly/message.ts",
    "sdk/assemblyscript/assembly/result.ts",
    "sdk/assemblyscript/assembly/runtime.ts",
];

/// Creates the project `dir`, named after its last component. Returns what to run next.
pub fn new(dir: &Path, lang: Lang) -> Result<String, CliError> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.len() <= 64
        && (name.chars()).all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(CliError::Failed(format!(
            "`{name}` cannot name a plugin project: use 1 to 64 letters, digits, `-` or `_`, \
             starting with a letter"
        )));
    }
    if dir.exists() {
        return Err(CliError::Failed(format!(
            "{} already exists",
            dir.display()
        )));
    }
    let fill = |template: &str| {
        let lang = match lang {
            Lang::Rust => "Rust",
            Lang::Assemblyscript => "AssemblyScript",
        };
        template.replace("{{name}}", name).replace("{{lang}}", lang)
    };
    let mut files: Vec<(&str, String)> = vec![
        (".gitignore", include_str!("templates/gitignore").to_owned()),
        ("README.md", fill(include_str!("templates/README.md"))),
    ];
    match lang {
        Lang::Rust => {
            files.extend(
                RUST_SDK
                    .iter()
                    .map(|(path, text)| (*path, text.to_string())),
            );
            files.push((
                "Cargo.toml",
                fill(include_str!("templates/rust/Cargo.toml")),
            ));
            files.push((
                ".cargo/config.toml",
                include_str!("templates/rust/config.toml").into(),
            ));
            files.push(("src/lib.rs", include_str!("templates/rust/lib.rs").into()));
        }
        Lang::Assemblyscript => {
            files.extend(AS_SDK.iter().map(|(path, text)| (*path, text.to_string())));
            // The SDK's own template, with its name and the SDK's new place.
            let package = repo_file!("sdk/assemblyscript/template/package.json")
                .replace("my-switchyard-handler", name)
                .replace("\"file:..\"", "\"file:sdk/assemblyscript\"");
            files.push(("package.json", package));
            let config = repo_file!("sdk/assemblyscript/template/asconfig.json");
            files.push(("asconfig.json", config.into()));
            let handler = repo_file!("sdk/assemblyscript/template/assembly/index.ts");
            files.push(("assembly/index.ts", handler.into()));
        }
    }
    for (path, text) in files {
        let path = dir.join(path);
        let written = (path.parent().map_or(Ok(()), std::fs::create_dir_all))
            .and_then(|()| std::fs::write(&path, text));
        written.map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(format!(
        "created {}\nnext: cd {} && switchyard plugin build\n",
        dir.display(),
        dir.display()
    ))
}

/// Builds the project in `dir` (Cargo or npm, by what it holds) and returns its `.wasm`.
pub fn build(dir: &Path) -> Result<PathBuf, CliError> {
    if dir.join("Cargo.toml").exists() {
        build_rust(dir)
    } else if dir.join("package.json").exists() {
        build_assemblyscript(dir)
    } else {
        Err(CliError::Failed(format!(
            "{} has neither a Cargo.toml nor a package.json: not a plugin project",
            dir.display()
        )))
    }
}

fn build_rust(dir: &Path) -> Result<PathBuf, CliError> {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .args(["--message-format", "json-render-diagnostics"])
        .current_dir(dir)
        // Compiler messages go straight to the user; the JSON on stdout names the artifact.
        .stderr(std::process::Stdio::inherit())
        .output();
    let output = ran("cargo", output)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let wasm = (stdout.lines())
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .flat_map(|message| message["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|file| file.as_str().map(PathBuf::from))
        .find(|file| file.extension().is_some_and(|ext| ext == "wasm"));
    wasm.ok_or_else(|| CliError::Failed("cargo built no .wasm: is the crate-type `cdylib`?".into()))
}

fn build_assemblyscript(dir: &Path) -> Result<PathBuf, CliError> {
    if !dir.join("node_modules").exists() {
        let status = Command::new("npm").arg("install").current_dir(dir).output();
        ran("npm install", status)?;
    }
    let status = Command::new("npm")
        .args(["run", "build"])
        .current_dir(dir)
        .output();
    ran("npm run build", status)?;
    let config = std::fs::read_to_string(dir.join("asconfig.json")).unwrap_or_default();
    let config: Value = serde_json::from_str(&config).unwrap_or_default();
    let out = config["targets"]["release"]["outFile"].as_str();
    let out = out.ok_or_else(|| {
        CliError::Failed("asconfig.json names no `targets.release.outFile`".into())
    })?;
    Ok(dir.join(out))
}

/// The finished command's output, or why it failed (its stderr was already shown).
fn ran(
    what: &str,
    output: std::io::Result<std::process::Output>,
) -> Result<std::process::Output, CliError> {
    let output = output.map_err(|e| CliError::Failed(format!("cannot run {what}: {e}")))?;
    if !output.status.success() {
        eprint!("{}", String::from_utf8_lossy(&output.stdout));
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        return Err(CliError::Failed(format!(
            "{what} failed ({})",
            output.status
        )));
    }
    Ok(output)
}
