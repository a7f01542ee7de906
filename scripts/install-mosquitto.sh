#!/usr/bin/env bash
# Installs Mosquitto (the broker and mosquitto_passwd), which the MQTT tests run as an external,
# password-protected broker; its command-line clients (mosquitto_pub, mosquitto_sub), which
# the device tests connect to the embedded broker with; and paho-mqtt, the Python client the
# secure WebSocket test uses. Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! { command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; } ||
    ! command -v mosquitto_pub >/dev/null; then
    bash scripts/apt-install.sh mosquitto mosquitto-clients
fi
bash scripts/pip-install.sh .tools/python 'paho-mqtt==2.1.0'
