#!/usr/bin/env bash
# Builds and starts the Switchyard server with its embedded defaults: the MQTT broker on
# 127.0.0.1:1883, the REST API on 127.0.0.1:8080, data under ./data. Extra arguments go to
# `switchyard serve` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-protoc.sh
cargo build --release -p switchyard
exec target/release/switchyard serve "$@"
