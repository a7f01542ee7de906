#!/usr/bin/env bash
# Installs what the Pulsar tests run, from PyPI: pulsar-lite, a broker that speaks the Pulsar
# binary protocol (Apache Pulsar itself is not on the registries), and the official Python
# client `pulsar-client`, which the interop test drives. Idempotent: does nothing when both are
# there at these versions.
set -euo pipefail
cd "$(dirname "$0")/.."

target=.tools/pulsar-python
bin=.tools/bin/pulsar-lite
if [ -x "$bin" ] && [ -d "$target/pulsar_client-3.13.0.dist-info" ]; then
    exit 0
fi
bash scripts/pip-install.sh "$target" 'pulsar-lite==0.2.0' 'pulsar-client==3.13.0'
mkdir -p .tools/bin
chmod +x "$target/pulsar_lite/bin/pulsar-lite"
ln -sf ../pulsar-python/pulsar_lite/bin/pulsar-lite "$bin"
