#!/usr/bin/env bash
# Installs the npm packages of the AssemblyScript SDK, its template and the AssemblyScript
# plugins from their committed package-lock.json files (`npm ci`), idempotently: a project whose
# node_modules is newer than its package.json and lock file is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECTS=(
    sdk/assemblyscript
    sdk/assemblyscript/template
    plugins/order-as
    plugins/glue-as
    plugins/gate-as
    plugins/guard-as
)

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "install-node-deps: node and npm are required (Node.js 20 or newer)" >&2
    exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
    echo "install-node-deps: Node.js $(node --version) is too old; AssemblyScript 0.28 needs 20 or newer" >&2
    exit 1
fi

for project in "${PROJECTS[@]}"; do
    stamp="$project/node_modules/.package-lock.json"
    if [ -f "$stamp" ] && [ "$stamp" -nt "$project/package-lock.json" ] && [ "$stamp" -nt "$project/package.json" ]; then
        continue
    fi
    echo "install-node-deps: npm ci in $project"
    (cd "$project" && npm ci --no-audit --no-fund --loglevel=error)
done
