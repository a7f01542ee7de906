"""Prints bench/peers.sh's table from its results file (one `NAME JSON` line per run): each
run's throughput beside the CPU per message of its forwarder and of Mosquitto, then the ratios
the targets are stated in and the spread between rounds.

Usage: python3 bench/peers/report.py RESULTS RATE
"""

import json
import sys
from collections import defaultdict

rows = defaultdict(list)
for line in open(sys.argv[1]):
    name, result = line.split(" ", 1)
    rows[name].append(json.loads(result))

print(
    "\n| forwarding through Mosquitto, QoS 1 | round | msg/s | forwarder CPU/msg "
    f"| Mosquitto CPU/msg | msg per forwarder CPU-second | p50 at {sys.argv[2]} msg/s | p99 |"
)
print("|---|---|---|---|---|---|---|---|")
for name, runs in rows.items():
    for i, r in enumerate(runs, 1):
        cpu = r["cpu_us_per_message"]
        own = cpu.get("forwarder")
        print(
            f"| {name} | {i} | {r['throughput']:,.0f} "
            f"| {f'{own:.1f} µs' if own else '-'} | {cpu['broker']:.1f} µs "
            f"| {f'{1e6 / own:,.0f}' if own else '-'} "
            f"| {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms |"
        )


def values(name, f):
    return [f(r) for r in rows[name]]


def mean(name, f):
    return sum(values(name, f)) / len(rows[name])


def spread(name, f):
    return max(values(name, f)) / min(values(name, f)) - 1


def cpu(r):
    return r["cpu_us_per_message"]["forwarder"]


def throughput(r):
    return r["throughput"]


broker, node_red = mean("broker", throughput), mean("node-red", cpu)
print()
for name in ("switchyard", "switchyard-reused", "switchyard-batched"):
    print(
        f"{name}: {mean(name, cpu):.1f} µs of CPU per message, "
        f"{node_red / mean(name, cpu):.2f}x Node-RED's messages per CPU-second; "
        f"throughput {mean(name, throughput) / broker:.2f}x the broker alone"
    )
for name in ("broker", "node-red", "switchyard", "switchyard-reused", "switchyard-batched"):
    own = f"CPU/msg {spread(name, cpu):.0%}, " if name != "broker" else ""
    print(f"{name}: spread between rounds: {own}msg/s {spread(name, throughput):.0%}")
