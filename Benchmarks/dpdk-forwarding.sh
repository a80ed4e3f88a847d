#!/usr/bin/env bash
# DPDK benchmark, in one run (release build, one forwarding core, this machine's vdevs):
#  1. dpdk-testpmd io-forwarding vs the agent's L2/L3 chain forwarding, on net_null
#     (64-byte frames: net_null's own zeros, which are not IP, and IPv4/TCP frames the
#     agent preloads with --null-frames; testpmd io-fwd never reads them) and on net_pcap
#     with infinite_rx (a generated capture's IPv4 packets); next to io, testpmd's
#     forwarding modes that read each packet's headers too (5tswap: parse L2-L4 and swap
#     the addresses; csum: parse and check/compute checksums) show what reading a packet
#     costs DPDK's own tool on the same vdevs;
#  2. the IDS chain (chains/seed/config5.yaml) over net_pcap infinite_rx vs the same
#     capture through the pcap backend (mbox-agent replay --pcap).
# Prints Mpps and the agent/testpmd ratios, L2/L3 with 2 RSS-queue workers, and the IDS
# chain with 1 and 2 (software-distributed) workers.
#   bash Benchmarks/dpdk-forwarding.sh [SECONDS [ROUNDS]]   (medians of ROUNDS runs, 3 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
rounds=${2:-3}
command -v dpdk-testpmd >/dev/null || { echo "dpdk-testpmd missing (apt-get install dpdk)" >&2; exit 2; }
swift build -c release --product mbox-agent >/dev/null
swift build -c release --product mbox-trafficgen >/dev/null
agent=.build/release/mbox-agent
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
eal="--no-huge -m 512 --no-pci --no-shconf --no-telemetry"

# net_pcap keeps an infinite_rx capture in mbufs: keep it under the pool size.
.build/release/mbox-trafficgen -o "$work/loop.pcap" --flows 500 --applications http,http,tls,http,ssh,http,http \
  --attack "UNION SELECT" --attack-share 0.05 --response-body 700 2>/dev/null

# 64-byte IPv4/TCP frames for net_null's mbufs.
python3 Benchmarks/null-frames.py "$work/frames.pcap"

# testpmd in forwarding mode $1 (io, 5tswap, csum) on the vdevs in the other arguments:
# total forwarded packets/s (both ports' Rx-pps), median of the periods after warm-up.
testpmd() {
  local mode=$1
  shift
  # timeout ends testpmd (exit 124): that is how this run is meant to end.
  { timeout -s INT "$((seconds + 2))" dpdk-testpmd $eal -l 0-1 "$@" -- --forward-mode="$mode" --auto-start \
    --stats-period 1 --nb-cores=1 --total-num-mbufs=16384 2>/dev/null || true; } | python3 -c '
import re, statistics, sys
values = [int(m.group(1)) for m in re.finditer(r"Rx-pps:\s+(\d+)", sys.stdin.read())]
totals = [a + b for a, b in zip(values[0::2], values[1::2]) if a + b > 0][1:]
print(f"{statistics.median(totals) / 1e6:.2f}" if totals else "nan")'
}

# Mpps from an agent's summary on stdin (the pattern's group: packets/s).
rate() { python3 -c '
import re, sys
m = re.search(sys.argv[1], sys.stdin.read())
print(f"{int(m.group(1)) / 1e6:.2f}" if m else "nan")' "$1"; }
single='time\s+[\d.]+ s, (\d+) packets/s'
workers='all workers\s+\d+ packets, (\d+) packets/s'

# The agent, one worker on the main lcore.
agent_run() {
  "$agent" run --dpdk "$eal --lcores=0@(0-1) $1" --duration "$seconds" "${@:2}" 2>&1 | rate "$single"
}

# The pcap backend on the same capture, repeated to last long enough to time.
python3 - "$work/loop.pcap" "$work/long.pcap" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
header, records = data[:24], data[24:]
with open(sys.argv[2], "wb") as out:
    out.write(header)
    for _ in range(100):
        out.write(records)
PY
# Each figure is measured `rounds` times, the rounds interleaved (the VM's speed drifts),
# and the median printed.
record() { echo "$2" >> "$work/$1"; }
median() { python3 -c "import statistics, sys; v = [float(x) for x in open(sys.argv[1]) if x.strip() != 'nan']; print(f'{statistics.median(v):.2f}' if v else 'nan')" "$work/$1"; }
for round in $(seq "$rounds"); do
  for mode in io 5tswap csum; do
    record "null_testpmd_$mode" $(testpmd "$mode" --vdev=net_null0 --vdev=net_null1)
    record "pcap_testpmd_$mode" $(testpmd "$mode" --vdev="net_pcap0,rx_pcap=$work/loop.pcap,infinite_rx=1" --vdev=net_null1)
  done
  record null_agent $(agent_run "--vdev=net_null0 --vdev=net_null1" --port net_null0 --out-port net_null1 --chain chains/l2l3-forward.yaml)
  record null_agent_ipv4 $(agent_run "--vdev=net_null0 --vdev=net_null1" --port net_null0 --out-port net_null1 --chain chains/l2l3-forward.yaml \
    --null-frames "$work/frames.pcap")
  # Two workers on net_null, which offers RSS: one queue pair per worker, no distributor
  # (worker 0 on the main lcore, worker 1 on lcore 1).
  record null_agent2 $("$agent" run --dpdk "$eal --lcores=0@(0-1),1@(0-1) --vdev=net_null0 --vdev=net_null1" --port net_null0 --out-port net_null1 \
    --duration "$seconds" --workers 2 --chain chains/l2l3-forward.yaml --null-frames "$work/frames.pcap" 2>&1 | rate "$workers")
  record pcap_agent $(agent_run "--vdev=net_pcap0,rx_pcap=$work/loop.pcap,infinite_rx=1 --vdev=net_null1" \
    --port net_pcap0 --out-port net_null1 --chain chains/l2l3-forward.yaml)
  record ids_dpdk $(agent_run "--vdev=net_pcap0,rx_pcap=$work/loop.pcap,infinite_rx=1" --rules rules/web-attacks.rules \
    --chain chains/seed/config5.yaml)
  # Two workers on lcores 1 and 2 (net_pcap has no RSS: the port thread on the main lcore
  # distributes; on this 2-core VM three busy lcores share two cores).
  record ids_dpdk2 $("$agent" run --dpdk "$eal --lcores=0@(0-1),1@(0-1),2@(0-1) --vdev=net_pcap0,rx_pcap=$work/loop.pcap,infinite_rx=1" \
    --duration "$seconds" --workers 2 --rules rules/web-attacks.rules --chain chains/seed/config5.yaml 2>&1 | rate "$workers")
  record ids_pcap $("$agent" replay --pcap "$work/long.pcap" --rules rules/web-attacks.rules --chain chains/seed/config5.yaml 2>&1 | rate "$single")
done
for key in null_testpmd_io null_testpmd_5tswap null_testpmd_csum null_agent null_agent_ipv4 null_agent2 pcap_testpmd_io pcap_testpmd_5tswap pcap_testpmd_csum pcap_agent ids_dpdk ids_dpdk2 ids_pcap; do
  printf -v "$key" "%s" "$(median "$key")"
done

ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b * 100:.0f} %' if b else 'n/a')" "$1" "$2"; }
echo "DPDK forwarding, one core, median of $rounds runs of ${seconds}s (Mpps; testpmd counts both directions it forwards)"
echo
echo "| workload                                        | testpmd io | testpmd 5tswap | testpmd csum | mbox-agent | agent / io | agent / 5tswap |"
echo "|-------------------------------------------------|-----------:|---------------:|-------------:|-----------:|-----------:|---------------:|"
# label, testpmd io, 5tswap, csum, agent; the ratios' io and 5tswap figures (rows without
# testpmd figures of their own: net_null's io, which never reads the frames; 5tswap cannot
# be given net_null IPv4 frames, so none).
row() {
  printf "| %-47s | %10s | %14s | %12s | %10s | %10s | %14s |\n" "$1" "$2" "$3" "$4" "$5" \
    "$(ratio "$5" "$6")" "$([ -n "${7:-}" ] && ratio "$5" "$7")"
}
row "net_null, 64-byte zeros (not IP), l2l3 chain" "$null_testpmd_io" "$null_testpmd_5tswap" "$null_testpmd_csum" "$null_agent" \
  "$null_testpmd_io" "$null_testpmd_5tswap"
row "same, 64-byte IPv4/TCP frames (--null-frames)" "" "" "" "$null_agent_ipv4" "$null_testpmd_io"
row "same, agent --workers 2 (an RSS queue pair each)" "" "" "" "$null_agent2" "$null_testpmd_io"
echo "(--workers 2 on IPv4 frames: $(ratio "$null_agent2" "$null_agent_ipv4") of one worker)"
row "net_pcap infinite_rx -> net_null, l2l3 chain" "$pcap_testpmd_io" "$pcap_testpmd_5tswap" "$pcap_testpmd_csum" "$pcap_agent" \
  "$pcap_testpmd_io" "$pcap_testpmd_5tswap"
echo "(testpmd reading headers, of its io-fwd: 5tswap $(ratio "$null_testpmd_5tswap" "$null_testpmd_io") / $(ratio "$pcap_testpmd_5tswap" "$pcap_testpmd_io"), csum $(ratio "$null_testpmd_csum" "$null_testpmd_io") / $(ratio "$pcap_testpmd_csum" "$pcap_testpmd_io") on net_null / net_pcap)"
echo
echo "| IDS chain (config5) on the same capture         | Mpps |"
echo "|-------------------------------------------------|-----:|"
printf "| DPDK net_pcap infinite_rx (mbox-agent run)      | %4s |\n" "$ids_dpdk"
printf "| same, --workers 2                               | %4s |\n" "$ids_dpdk2"
printf "| pcap backend (mbox-agent replay --pcap)         | %4s |\n" "$ids_pcap"
echo "(IDS chain on DPDK: $(ratio "$ids_dpdk" "$ids_pcap") of the pcap backend)"
echo
echo "Each round (Mpps):"
for key in null_testpmd_io null_testpmd_5tswap null_testpmd_csum null_agent null_agent_ipv4 null_agent2 pcap_testpmd_io pcap_testpmd_5tswap pcap_testpmd_csum pcap_agent ids_dpdk ids_dpdk2 ids_pcap; do
  echo "  $key: $(tr '\n' ' ' < "$work/$key")"
done
