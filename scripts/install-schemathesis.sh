#!/usr/bin/env bash
# Installs schemathesis from PyPI into .tools/schemathesis: the API fuzz test
# (`tests/openapi_fuzz.rs`) runs it against a real server from the OpenAPI document.
# Idempotent: does nothing when this version is there.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/pip-install.sh .tools/schemathesis "schemathesis==4.32.5"
