#!/usr/bin/env bash
# Installs Python packages from PyPI into a folder of their own (no virtualenv, nothing
# system-wide), installing pip first if the machine lacks it: the one way the other scripts
# install from PyPI. Idempotent: does nothing when every PACKAGE==VERSION is in TARGET.
# Usage: pip-install.sh TARGET PACKAGE==VERSION...
set -euo pipefail
cd "$(dirname "$0")/.."

target=$1
shift
missing=0
for spec in "$@"; do
    # pip names the metadata folder after the package with `-` as `_`.
    name=${spec%%==*}
    [ -d "$target/${name//-/_}-${spec##*==}.dist-info" ] || missing=1
done
if [ "$missing" -eq 0 ]; then
    exit 0
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
    bash scripts/apt-install.sh python3-pip
fi
python3 -m pip install --quiet --disable-pip-version-check --upgrade --target "$target" "$@"
