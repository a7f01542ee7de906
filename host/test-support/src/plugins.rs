//! Builds the guest plugins in `plugins/` from source, once per test binary, and finds their
//! `.wasm` files. Shared (through `#[path]`) by the end-to-end tests, the crates' own tests
//! and the benchmark.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root: the nearest folder above the crate being built that holds `wit/`.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("wit/plugin.wit").exists())
        .expect("the crate lives inside the Switchyard repository")
        .to_path_buf()
}

/// The path of a Rust plugin's `.wasm`, building `plugins/` on first use.
pub fn plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(root().join("plugins/Cargo.toml"))
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .expect("running cargo to build the plugins");
        assert!(status.success(), "building plugins/ failed");
    });
    let path = root().join(format!("plugins/target/wasm32-wasip2/release/{name}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The path of an AssemblyScript plugin built with `npm run build` in `project` (relative to
/// the repository root, dependencies installed by `scripts/install-node-deps.sh`), building it
/// on first use.
pub fn as_plugin(project: &str, file: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let dir = root().join(project);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|p| p == project) {
        let status = Command::new("npm")
            .args(["run", "build", "--silent"])
            .current_dir(&dir)
            .status()
            .expect("running npm (install Node.js 20+, then scripts/install-node-deps.sh)");
        assert!(status.success(), "npm run build in {project} failed");
        built.push(project.to_owned());
    }
    let path = dir.join("build").join(file);
    assert!(path.exists(), "{} was not built", path.display());
    path
}
