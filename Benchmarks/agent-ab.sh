#!/usr/bin/env bash
# Two builds of mbox-agent side by side, rounds interleaved (A B A B …, the VM's speed
# drifts), medians and ratios printed: the pcap backend (replay --pcap) with the seed's
# configuration 5 (IDS chain with reassembly and DPI), and with DPDK (when built in)
# net_null L2/L3 forwarding of IPv4/TCP frames and the IDS chain over net_pcap.
#   bash Benchmarks/agent-ab.sh OLD_AGENT NEW_AGENT [SECONDS [ROUNDS]]
# e.g. an earlier commit's release build (git worktree add ../base COMMIT; swift build -c
# release --product mbox-agent there) against this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1
new=$2
seconds=${3:-4}
rounds=${4:-5}
swift build -c release --product mbox-trafficgen >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
eal="--no-huge -m 512 --no-pci --no-shconf --no-telemetry --lcores=0@(0-1)"
.build/release/mbox-trafficgen -o "$work/loop.pcap" --flows 500 --applications http,http,tls,http,ssh,http,http \
  --attack "UNION SELECT" --attack-share 0.05 --response-body 700 2>/dev/null
python3 - "$work/loop.pcap" "$work/long.pcap" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as out:
    out.write(data[:24])
    for _ in range(600):
        out.write(data[24:])
PY
python3 Benchmarks/null-frames.py "$work/frames.pcap"
rate() { python3 -c '
import re, sys
m = re.search(r"time\s+[\d.]+ s, (\d+) packets/s", sys.stdin.read())
print(f"{int(m.group(1)) / 1e6:.3f}" if m else "nan")'; }
has_dpdk() { "$1" run --dpdk "$eal --vdev=net_null0" --duration 0.1 2>&1 | grep -q "built without DPDK" && return 1 || return 0; }
record() { echo "$3" >> "$work/$1.$2"; }
for round in $(seq "$rounds"); do
  for side in old new; do
    agent=${!side}
    record pcap_ids "$side" "$("$agent" replay --pcap "$work/long.pcap" --rules rules/web-attacks.rules --chain chains/seed/config5.yaml 2>&1 | rate)"
    if has_dpdk "$agent"; then
      record null_l2l3 "$side" "$("$agent" run --dpdk "$eal --vdev=net_null0 --vdev=net_null1" --port net_null0 --out-port net_null1 \
        --duration "$seconds" --chain chains/l2l3-forward.yaml --null-frames "$work/frames.pcap" 2>&1 | rate)"
      record dpdk_ids "$side" "$("$agent" run --dpdk "$eal --vdev=net_pcap0,rx_pcap=$work/loop.pcap,infinite_rx=1" --duration "$seconds" \
        --rules rules/web-attacks.rules --chain chains/seed/config5.yaml 2>&1 | rate)"
    fi
  done
done
python3 - "$work" "$rounds" <<'PY'
import os, statistics, sys
work, rounds = sys.argv[1], sys.argv[2]
names = {"pcap_ids": "replay --pcap, configuration 5 (IDS, reassembly, DPI)",
         "null_l2l3": "DPDK net_null -> net_null, L2/L3 chain, IPv4/TCP frames",
         "dpdk_ids": "DPDK net_pcap infinite_rx, configuration 5"}
print(f"Mpps, median of {rounds} interleaved rounds (ratio: new / old, per round then median)")
print()
print(f"| {'workload':58} | {'old':>7} | {'new':>7} | {'new/old':>7} |")
print(f"|{'-' * 60}|{'-' * 9}:|{'-' * 9}:|{'-' * 9}:|")
for key, label in names.items():
    try:
        old = [float(x) for x in open(f"{work}/{key}.old")]
        new = [float(x) for x in open(f"{work}/{key}.new")]
    except FileNotFoundError:
        continue
    ratios = [b / a for a, b in zip(old, new) if a > 0]
    print(f"| {label:58} | {statistics.median(old):7.3f} | {statistics.median(new):7.3f} | {statistics.median(ratios):7.3f} |")
PY
