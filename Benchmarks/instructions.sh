#!/usr/bin/env bash
# Instructions a packet, stage by stage (valgrind's callgrind on a release build): a figure
# that does not move with the VM's speed, for comparing a change before and after where
# wall-clock rates drift by a third between runs. Three workloads:
#  1. L2/L3 chain forwarding on net_null with 64-byte IPv4/TCP frames (DPDK);
#  2. the IDS chain (chains/seed/config5.yaml) on net_pcap with infinite_rx (DPDK);
#  3. the IDS chain on the same capture through the pcap backend (mbox-agent replay).
# Without DPDK only the third runs.
#   bash Benchmarks/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind missing (apt-get install valgrind)" >&2; exit 2; }
swift build -c release --product mbox-agent >/dev/null
swift build -c release --product mbox-trafficgen >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# callgrind reads the stripped copy reliably (the debug information trips it).
strip --strip-debug -o "$work/mbox-agent" .build/release/mbox-agent
eal="--no-huge -m 512 --no-pci --no-shconf --no-telemetry --lcores=0@(0-1)"

.build/release/mbox-trafficgen -o "$work/loop.pcap" --flows 500 --applications http,http,tls,http,ssh,http,http \
  --attack "UNION SELECT" --attack-share 0.05 --response-body 700 2>/dev/null
python3 - "$work/loop.pcap" "$work/long.pcap" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb") as out:
    out.write(data[:24])
    for _ in range(20):
        out.write(data[24:])
PY
python3 Benchmarks/null-frames.py "$work/frames.pcap"

# Runs the agent under callgrind: $1 names the run, the rest are the agent's arguments.
profile() {
  local name=$1
  shift
  valgrind --tool=callgrind --callgrind-out-file="$work/$name.out" "$work/mbox-agent" "$@" > "$work/$name.log" 2>&1
  callgrind_annotate --inclusive=yes "$work/$name.out" > "$work/$name.txt" 2>/dev/null
}

# Prints a workload's stages: instructions (inclusive) a packet.
report() {
  python3 - "$work/$1.txt" "$work/$1.log" "$2" <<'PY'
import re, sys
text, log, title = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
# (The summary's packets line; a progress line may precede it on the same line.)
packets = int(re.search(r"packets\s+(\d+)\s+\(\d+ bytes", log).group(1))
def cost(*patterns):
    total = 0
    for pattern in patterns:
        for line in text.splitlines():
            if pattern in line and re.match(r"\s*[\d,]+ ", line):
                total += int(line.split()[0].replace(",", ""))
                break
    return total / packets
stages = [
    ("receive loop (port, stages, verdicts)", cost("8PortLoopV3run")),
    ("  port: receive (PMD, views)", cost("mbox_rx_burst", "mbox_burst_views")),
    ("  port: end of burst (forward, free)", cost("8DPDKPortC8endBurst")),
    ("  capture file reader", cost("nextPcapRecord")),
    ("  stages, parse to verdict", cost("RuntimeC5BurstV7process")),
    ("    data path", cost("12MBoxDataPath0bC0C7process")),
    ("      parse", cost("0B6ParserO5parse_8linkType")),
    ("      flow lookup", cost("0B5TableC6lookup_4hash")),
    ("      TCP Monitor", cost("TCPMonitorC7process4slot")),
    ("    event source", cost("EventSourceC7collect")),
]
chain = cost("RuntimeC5BurstV7process") - cost("12MBoxDataPath0bC0C7process") - cost("EventSourceC7collect")
stages.append(("    chain (NFs, dispatch, verdict, alerts)", chain))
print(f"\n{title}: {packets} packets")
for label, value in stages:
    if value > 0:
        print(f"  {label:44} {value:8.0f}")
PY
}

if [ -f /usr/include/dpdk/rte_eal.h ]; then
  profile l2l3 run --dpdk "$eal --vdev=net_null0 --vdev=net_null1" --port net_null0 --out-port net_null1 \
    --chain chains/l2l3-forward.yaml --null-frames "$work/frames.pcap" --duration 4
  report l2l3 "L2/L3 chain, net_null IPv4/TCP frames (instructions a packet)"
  profile ids_dpdk run --dpdk "$eal --vdev=net_pcap0,rx_pcap=$work/loop.pcap,infinite_rx=1" \
    --rules rules/web-attacks.rules --chain chains/seed/config5.yaml --duration 6
  report ids_dpdk "IDS chain, net_pcap infinite_rx (instructions a packet)"
fi
profile ids_pcap replay --pcap "$work/long.pcap" --rules rules/web-attacks.rules --chain chains/seed/config5.yaml
report ids_pcap "IDS chain, pcap backend (instructions a packet)"
