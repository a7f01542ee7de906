#!/usr/bin/env bash
# Installs what building and testing Switchyard needs, idempotently: protoc (the Pulsar client
# generates its protocol types with it), the wasm32-wasip2 Rust target for plugins, Mosquitto
# for the external-broker tests, PostgreSQL for the shared store's tests, tansu (a
# Kafka-protocol broker) for the Kafka tests, pulsar-lite (a Pulsar-protocol broker) and the Python Pulsar client for the Pulsar tests,
# schemathesis for the API fuzz test, Debian's chromium and Python Playwright for the admin UI's
# browser test, and the npm packages of the AssemblyScript SDK and plugins.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi
bash scripts/install-protoc.sh
bash scripts/install-mosquitto.sh
bash scripts/install-postgres.sh
bash scripts/install-kafka.sh
bash scripts/install-pulsar.sh
bash scripts/install-schemathesis.sh
bash scripts/install-browser.sh
if [ -f scripts/install-node-deps.sh ]; then
    bash scripts/install-node-deps.sh
fi
