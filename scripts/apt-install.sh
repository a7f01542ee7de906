#!/usr/bin/env bash
# Installs Debian packages with apt-get, as root or through sudo: the one way the other scripts
# install system packages. Usage: apt-install.sh PACKAGE...
set -euo pipefail

if ! command -v apt-get >/dev/null; then
    echo "apt-install: no apt-get here; install $* with your package manager" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "$@"
