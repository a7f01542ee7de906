#!/usr/bin/env bash
# Installs Debian's PostgreSQL server, which the tests of the shared store start a cluster of
# their own with (see host/test-support/src/postgres.rs), and which `--store postgres://...`
# connects to. Idempotent: installs only if no server binaries are there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    bash scripts/apt-install.sh postgresql
fi
