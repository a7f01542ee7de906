#!/usr/bin/env bash
# WASM against native, taken side by side: each round runs the native callback, then the plugin
# with a fresh instance per message and reused (`limits.reuse`), one `switchyard-bench --case`
# each, back to back, and divides each plugin's throughput by the native run's of the same
# round, so a change of the machine's speed between rounds does not enter the ratio; one within
# a round still does, and the spread of the ratios between rounds shows how much. Prints the
# median ratio of each mode. Not part of the tests.
#
# Usage: bash bench/ratios.sh [WORK] [ROUNDS] [MESSAGES]
#   WORK: Forwarder or Recorder (default Forwarder); ROUNDS default 4; MESSAGES default 20000.
# MQTT QoS 1 on the embedded broker, one subscriber, the hundred sensor topics.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=${1:-Forwarder}
rounds=${2:-4}
messages=${3:-20000}
cargo build --release -p switchyard-bench
cargo build --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml
results=$(mktemp)
trap 'rm -f "$results"' EXIT

for round in $(seq "$rounds"); do
    for mode in native fresh reused; do
        extra=""
        case $mode in
        native) wasm=false ;;
        fresh) wasm=true ;;
        reused) wasm=true extra=',"reuse":true' ;;
        esac
        case="{\"source\":{\"Mqtt\":{\"qos\":1}},\"work\":\"$work\",\"wasm\":$wasm$extra,\"subscribers\":1,\"messages\":$messages}"
        echo "$round $mode $(target/release/switchyard-bench --case "$case" | tail -1)" >>"$results"
    done
done

python3 - "$results" "$work" <<'PYEOF'
import json, sys
from collections import defaultdict

runs = defaultdict(dict)
for line in open(sys.argv[1]):
    round_, mode, result = line.split(" ", 2)
    runs[int(round_)][mode] = json.loads(result)
print(f"\n| {sys.argv[2]}, round | native msg/s | fresh | reused |")
print("|---|---|---|---|")
ratios = defaultdict(list)
for round_, modes in sorted(runs.items()):
    native = modes["native"]["throughput"]
    cells = []
    for mode in ("fresh", "reused"):
        ratio = modes[mode]["throughput"] / native
        ratios[mode].append(ratio)
        cells.append(f"{ratio:.2f}x ({modes[mode]['cpu_us_per_message']:.0f} µs)")
    print(f"| {round_} | {native:,.0f} ({modes['native']['cpu_us_per_message']:.0f} µs) | " + " | ".join(cells) + " |")
print()
for mode, values in ratios.items():
    values.sort()
    middle = len(values) // 2
    median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    print(f"{mode}: median {median:.2f}x native, spread between rounds {values[-1] / values[0] - 1:.0%}")
PYEOF
