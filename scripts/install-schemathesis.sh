#!/usr/bin/env bash
# Installs schemathesis from PyPI into .tools/schemathesis: the API fuzz test
# (`tests/openapi_fuzz.rs`) runs it against a real server from the OpenAPI document.
# Idempotent: does nothing when this version is there.
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
target=.tools/schemathesis
if [ -d "$target/schemathesis-$version.dist-info" ]; then
    exit 0
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
    bash scripts/apt-install.sh python3-pip
fi
rm -rf "$target"
python3 -m pip install --quiet --disable-pip-version-check --target "$target" "schemathesis==$version"
