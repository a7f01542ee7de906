#!/usr/bin/env bash
# Installs what building and testing Switchyard needs, idempotently: the wasm32-wasip2 Rust
# target for plugins, Mosquitto for the external-broker tests, tansu (a Kafka-protocol broker)
# for the Kafka tests, and the npm packages of the
# AssemblyScript SDK and plugins.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi
bash scripts/install-mosquitto.sh
bash scripts/install-kafka.sh
if [ -f scripts/install-node-deps.sh ]; then
    bash scripts/install-node-deps.sh
fi
