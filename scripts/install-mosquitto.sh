#!/usr/bin/env bash
# Installs Mosquitto (the broker and mosquitto_passwd), which the MQTT tests run as an external,
# password-protected broker. Idempotent: does nothing when mosquitto is already installed.
set -euo pipefail

if command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install-mosquitto: no apt-get here; install Mosquitto with your package manager" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y mosquitto
