#!/usr/bin/env bash
# Installs Mosquitto (the broker and mosquitto_passwd), which the MQTT tests run as an external,
# password-protected broker. Idempotent: does nothing when mosquitto is already installed.
set -euo pipefail

if command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; then
    exit 0
fi
bash "$(dirname "$0")/apt-install.sh" mosquitto
