# Shared by bench/peers.sh and bench/soak.sh (sourced, not run): ports, an external Mosquitto,
# and a Switchyard server forwarding with the `forwarder` plugin. Sourcing it makes a scratch
# directory `work` and kills what is started (kept in `pids`) on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
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

# Builds what the runs need: Mosquitto, the release server and generator, the plugins.
build_all() {
    bash scripts/install-mosquitto.sh
    cargo build --release -p switchyard -p switchyard-bench
    cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml
}

# Starts Mosquitto on a free port, which it sets in `mqtt`; its pid in `mosquitto`.
# Unbounded queues: with Mosquitto's default of 1,000 queued messages per client, a forwarder
# slower than the publisher loses the rest, and the run would measure the drops. TCP_NODELAY:
# without it Mosquitto's small writes wait for the peer's delayed ACK, which adds ~16 ms to
# every hop through a forwarder at a steady rate.
start_mosquitto() {
    mqtt=$(free_port)
    local binary
    binary=$(command -v mosquitto || echo /usr/sbin/mosquitto)
    printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 0\nset_tcp_nodelay true\n' \
        "$mqtt" >"$work/mosquitto.conf"
    "$binary" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
    mosquitto=$!
    pids+=($mosquitto)
    wait_port "$mqtt"
}

# Starts Switchyard with a client of that Mosquitto and a `forwarder` subscriber from
# `peers/in` to `peers/out`; sets `switchyard` to its pid, `api` to its API's URL and `auth`
# to the header that signs in.
start_switchyard() {
    local http token=bench client
    http=$(free_port)
    target/release/switchyard serve --data "$work/switchyard" --http "127.0.0.1:$http" \
        --mqtt "127.0.0.1:$(free_port)" --token "$token" >"$work/switchyard.log" 2>&1 &
    switchyard=$!
    pids+=($switchyard)
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
}
