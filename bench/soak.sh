#!/usr/bin/env bash
# Memory of the Switchyard server alone over a long run at half load: an external Mosquitto, a
# Switchyard server forwarding `peers/in` to `peers/out` with the `forwarder` plugin, and the
# Rust load generator, first as fast as it goes (the throughput), then at half that rate for
# SECONDS. The server's resident memory (VmRSS) is sampled every 30 s. Not part of the tests.
#
# Usage: bash bench/soak.sh [SECONDS]      (default 600)
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
seconds=${1:-600}

build_all
load=target/release/switchyard-bench
start_mosquitto
start_switchyard

rss() { awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$switchyard/status"; }
first=$("$load" --load "127.0.0.1:$mqtt" peers/in peers/out 20000 500 1)
rate=$(echo "$first" | json '["throughput"] / 2')
echo "throughput: $(echo "$first" | json '["throughput"]') msg/s; soaking at $rate msg/s for $seconds s"
(
    while true; do
        rss >>"$work/rss"
        sleep 30
    done
) &
pids+=($!)
"$load" --load "127.0.0.1:$mqtt" peers/in peers/out 1000 "$rate" "$seconds" >"$work/soak.json"
rss >>"$work/rss"
echo "latency at half load: $(cat "$work/soak.json")"
echo "server RSS every 30 s (MiB): $(paste -sd' ' "$work/rss")"
