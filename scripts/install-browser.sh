#!/usr/bin/env bash
# Installs Debian's chromium and Python Playwright (from PyPI, into .tools/playwright): the admin
# UI's browser test (`tests/admin_ui.rs`) drives that chromium with Playwright through
# `executable_path`, as Playwright's own browser download is not available everywhere.
# Idempotent: does nothing when chromium and this Playwright version are there.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    bash scripts/apt-install.sh chromium chromium-driver
fi
bash scripts/pip-install.sh .tools/playwright "playwright==1.65.2"
