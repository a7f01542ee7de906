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
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-20000}
rate=${2:-500}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
wait_port() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    return 1
}

bash scripts/install-mosquitto.sh
npm install --prefix bench/peers --no-audit --no-fund --silent
cargo build --release -p switchyard -p switchyard-bench
cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml
load=target/release/switchyard-bench

mqtt=$(free_port)
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
# Unbounded queues: with Mosquitto's default of 1,000 queued messages per client, a forwarder
# slower than the publisher loses the rest, and the run would measure the drops. TCP_NODELAY:
# without it Mosquitto's small writes wait for the peer's delayed ACK, which adds ~16 ms to
# every hop through a forwarder at a steady rate.
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 0\nset_tcp_nodelay true\n' \
    "$mqtt" >"$work/mosquitto.conf"
"$mosquitto" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
wait_port "$mqtt"

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
http=$(free_port)
token=peers-bench
target/release/switchyard serve --data "$work/switchyard" --http "127.0.0.1:$http" \
    --mqtt "127.0.0.1:$(free_port)" --token "$token" >"$work/switchyard.log" 2>&1 &
pids+=($!)
wait_port "$http"
api="http://127.0.0.1:$http/api"
auth="Authorization: Bearer $token"
curl -sf -X PUT -H "$auth" -H 'content-type: application/wasm' \
    --data-binary @plugins/target/wasm32-wasip2/release/forwarder.wasm "$api/plugins/forwarder" >/dev/null
client=$(curl -sf -H "$auth" -H 'content-type: application/json' \
    -d "{\"mainBrokerURL\":\"mqtt://127.0.0.1:$mqtt\",\"qos\":1,\"isEnabled\":true}" \
    "$api/objects/MQTTClient" | json '["id"]')
curl -sf -H "$auth" -H 'content-type: application/json' \
    -d "{\"topic\":\"peers/in\",\"callback\":\"forwarder\",\"clients\":[\"$client\"],\"forwardTo\":\"peers/out\"}" \
    "$api/objects/MessageSubscriber" >/dev/null
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
