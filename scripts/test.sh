#!/usr/bin/env bash
# Sets up everything the tests need, then runs every test: unit tests of each crate and the
# end-to-end tests in tests/ (real server, embedded broker, Mosquitto, tansu for Kafka, plugins
# built from source in Rust and AssemblyScript, the admin UI in chromium), and the
# AssemblyScript SDK's own tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm test --prefix sdk/assemblyscript
# The Rust SDK's own tests run on the host: its imports are never called there.
cargo test --manifest-path plugins/Cargo.toml -p switchyard-sdk
cargo build --workspace --all-targets
cargo test --workspace -- --test-threads 2
