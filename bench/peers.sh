#!/usr/bin/env bash
# The same MQTT QoS 1 forward workload through one external Mosquitto, side by side:
#   (a) the broker alone: the load generator subscribes to its own input topic (the limit),
#   (b) Node-RED 4.1.8: `mqtt in` -> `function` -> `mqtt out` (bench/peers/flows.json),
#   (c) Switchyard: an MQTTClient of that Mosquitto and a subscriber running the `forwarder`
#       plugin, publishing to the output topic.
# The load generator is Rust (`switchyard-bench --load`): QoS 1 publishes as fast as the broker
# takes them for throughput, then latency at a fixed rate. Not part of the tests.
#
# Usage: bash bench/peers.sh [MESSAGES] [RATE]      (defaults: 20000 messages, 500 msg/s)
# Needs: Mosquitto (scripts/install-mosquitto.sh), Node.js 18-20 (for Node-RED 4), curl.
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
messages=${1:-20000}
rate=${2:-500}

npm install --prefix bench/peers --no-audit --no-fund --silent
build_all
load=target/release/switchyard-bench
start_mosquitto

run() {
    local name=$1 input=$2
    local result
    result=$("$load" --load "127.0.0.1:$mqtt" "$input" peers/out "$messages" "$rate")
    echo "$name $result" >>"$work/results"
    echo "$name: $result"
}

run broker peers/out

# Node-RED, with its own user directory and the committed flows.
nodered=$(free_port)
MQTT_PORT=$mqtt bench/peers/node_modules/.bin/node-red --port "$nodered" --userDir "$work/node-red" \
    bench/peers/flows.json >"$work/node-red.log" 2>&1 &
pids+=($!)
wait_port "$nodered"
run node-red peers/in
kill "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null || true

# Switchyard, with the forwarder plugin.
start_switchyard
run switchyard peers/in

python3 - "$work/results" "$rate" <<'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    name, result = line.split(" ", 1)
    rows[name] = json.loads(result)
print(f"\n| forwarding through Mosquitto, QoS 1 | msg/s | p50 at {sys.argv[2]} msg/s | p99 |")
print("|---|---|---|---|")
for name, r in rows.items():
    print(f"| {name} | {r['throughput']:,.0f} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms |")
s, n, b = (rows[k]["throughput"] for k in ("switchyard", "node-red", "broker"))
print(f"\nSwitchyard / Node-RED: {s / n:.2f}x; Switchyard / broker alone: {s / b:.2f}x")
EOF
