#!/usr/bin/env bash
# Installs protoc, which building the `pulsar` crate needs (it generates the Pulsar protocol's
# types at build time). Idempotent: does nothing when protoc is on the PATH.
set -euo pipefail

if command -v protoc >/dev/null; then
    exit 0
fi
bash "$(dirname "$0")/apt-install.sh" protobuf-compiler
