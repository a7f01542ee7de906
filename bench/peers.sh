#!/usr/bin/env bash
# The same MQTT QoS 1 forward workload through one external Mosquitto, side by side:
#   (a) the broker alone: the load generator subscribes to its own input topic (the limit),
#   (b) Node-RED 4.1.8: `mqtt in` -> `function` -> `mqtt out` (bench/peers/flows.json),
#   (c) Switchyard: an MQTTClient of that Mosquitto and a subscriber running the `forwarder`
#       plugin, publishing to the output topic, first with a fresh instance per message (the
#       default), then with the plugin's instances reused (`limits.reuse`), then taking up
#       to 64 queued messages at a time (`limits.batch`).
# The load generator is Rust (`switchyard-bench --load`): QoS 1 publishes as fast as the broker
# takes them for throughput, then latency at a fixed rate. Over the throughput burst it reads
# the CPU time of the forwarding process and of Mosquitto from /proc, so each forwarder's CPU
# per message stands beside its throughput. Every system runs ROUNDS times, interleaved, so
# the spread between rounds shows. Not part of the tests.
#
# Usage: bash bench/peers.sh [MESSAGES] [RATE] [ROUNDS]   (defaults: 40000 messages, 500 msg/s, 2)
# Needs: Mosquitto (scripts/install-mosquitto.sh), Node.js 18-20 (for Node-RED 4), curl.
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
messages=${1:-40000}
rate=${2:-500}
rounds=${3:-2}

npm install --prefix bench/peers --no-audit --no-fund --silent
build_all
load=target/release/switchyard-bench
start_mosquitto

# run NAME INPUT [FORWARDER_PID]: one measurement, with the CPU of the forwarder and broker.
run() {
    local name=$1 input=$2 cpu="broker=$mosquitto"
    [[ -n ${3:-} ]] && cpu="forwarder=$3,$cpu"
    local result
    result=$(LOAD_CPU=$cpu "$load" --load "127.0.0.1:$mqtt" "$input" peers/out "$messages" "$rate")
    echo "$name $result" >>"$work/results"
    echo "$name: $result"
}

for round in $(seq "$rounds"); do
    echo "round $round of $rounds"
    run broker peers/out

    # Node-RED, with its own user directory and the committed flows.
    nodered=$(free_port)
    MQTT_PORT=$mqtt bench/peers/node_modules/.bin/node-red --port "$nodered" \
        --userDir "$work/node-red" bench/peers/flows.json >"$work/node-red.log" 2>&1 &
    pids+=($!)
    wait_port "$nodered"
    run node-red peers/in "${pids[-1]}"
    kill "${pids[-1]}"
    wait "${pids[-1]}" 2>/dev/null || true

    # Switchyard with the forwarder plugin: a fresh instance per message, reused, batched.
    start_switchyard
    run switchyard peers/in "$switchyard"
    curl -sf -X PATCH -H "$auth" -H 'content-type: application/json' \
        -d '{"limits": {"reuse": {"messages": 1000000, "idleMs": 60000}}}' \
        "$api/plugins/forwarder" >/dev/null
    run switchyard-reused peers/in "$switchyard"
    curl -sf -X PATCH -H "$auth" -H 'content-type: application/json' \
        -d '{"limits": {"reuse": null, "batch": 64}}' "$api/plugins/forwarder" >/dev/null
    run switchyard-batched peers/in "$switchyard"
    kill "$switchyard"
    wait "$switchyard" 2>/dev/null || true
    rm -rf "$work/switchyard"
done

python3 bench/peers/report.py "$work/results" "$rate"
