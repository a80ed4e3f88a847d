#!/usr/bin/env bash
# The fleet demo: a controller and two agents on loopback, talking gRPC over mutual TLS.
# Sets up and builds, makes development certificates (mboxctl pki), starts the controller
# and two agents labelled role=ids (each replays its own generated capture — through DPDK
# net_pcap when DPDK is built in, from the file otherwise — but only once a chain is placed
# on it), applies the IDS chain to both by label, shows alerts from both arriving at the
# controller, pushes a changed rule set, and stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
bin=$PWD/.build/release
out=${DEMO_DIR:-$(mktemp -d /tmp/mbox-fleet.XXXXXX)}
mkdir -p "$out"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

echo "== 1. Two captures: HTTP, TLS, SSH, DNS with SQL injections split across segments"
$bin/mbox-trafficgen -o "$out/edge-1.pcap" --flows 1500 --concurrency 64 --seed 1 --out-of-order 0.1 \
  --attack "UNION SELECT" --attack-share 0.1 --attack-segments 3
$bin/mbox-trafficgen -o "$out/edge-2.pcap" --flows 1500 --concurrency 64 --seed 2 --retransmit 0.1 \
  --attack "UNION SELECT" --attack-share 0.05 --attack-segments 2

echo
echo "== 2. Development PKI (in-process, no openssl): a CA, the controller, two agents, an operator"
export MBOX_PKI="$out/pki" MBOX_OPERATOR=alice
$bin/mboxctl pki init
$bin/mboxctl pki issue controller
$bin/mboxctl pki issue agent edge-1
$bin/mboxctl pki issue agent edge-2
$bin/mboxctl pki issue operator alice

echo
echo "== 3. The controller (state in SQLite) and two agents waiting for a chain"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export MBOX_CONTROLLER="127.0.0.1:$port"
$bin/mbox-controller serve --listen "$MBOX_CONTROLLER" --pki "$MBOX_PKI" --db "$out/controller.db" \
  --metrics 127.0.0.1:0 --console 127.0.0.1:0 2> "$out/controller.log" &
pids+=($!)
for i in $(seq 100); do grep -q "listening on" "$out/controller.log" && break; sleep 0.1; done
cat "$out/controller.log"
if [ -f /usr/include/dpdk/rte_eal.h ]; then backend="DPDK net_pcap"; else backend="the pcap backend"; fi
for agent in edge-1 edge-2; do
  site=${agent#edge-}
  if [ "$backend" = "DPDK net_pcap" ]; then
    source=(--dpdk "--no-huge -m 256 --no-pci --no-shconf --no-telemetry --lcores=0@(0-1) --log-level=*:error --vdev=net_pcap0,rx_pcap=$out/$agent.pcap")
  else
    source=(--pcap "$out/$agent.pcap")
  fi
  $bin/mbox-agent run "${source[@]}" --controller "$MBOX_CONTROLLER" --pki "$MBOX_PKI" --name "$agent" \
    --labels "role=ids,site=$site" --state-dir "$out/$agent" --wait-for-config --metrics 127.0.0.1:0 2> "$out/$agent.log" &
  pids+=($!)
done
for i in $(seq 100); do
  [ "$(grep -l "registered with" "$out"/edge-*.log 2>/dev/null | wc -l)" -eq 2 ] && break; sleep 0.1
done
echo "   agents read their captures through $backend"
$bin/mboxctl get agents

echo
echo "== 4. mboxctl apply -f chains/fleet/ids-edge.yaml (placement role=ids; the rules file travels with it)"
$bin/mboxctl apply -f chains/fleet/ids-edge.yaml
wait_for_alerts() {  # until alerts from both agents are in and their count stops changing
  local last=-1 now
  for i in $(seq 60); do
    sleep 1
    json=$($bin/mboxctl alerts -o json --limit 100000)
    now=$(grep -c . <<< "$json" || true)
    # (here-strings, not pipes: with pipefail, grep -q closing early would fail the pipe)
    if [ "$now" -eq "$last" ] && grep -q '"host":"edge-1"' <<< "$json" && grep -q '"host":"edge-2"' <<< "$json"; then break; fi
    last=$now
  done
}
wait_for_alerts
sleep 2  # one more statistics report from each agent
$bin/mboxctl get agents
echo
$bin/mboxctl get chains

echo
echo "== 5. Alerts at the controller, from both agents (mboxctl alerts; -o json gives EVE lines)"
$bin/mboxctl alerts --limit 6
echo
$bin/mboxctl alerts -o json --limit 100000 | python3 -c '
import collections, json, sys
alerts = [json.loads(line) for line in sys.stdin]
print(f"   {len(alerts)} alerts stored; by agent and signature:")
for (host, sid, name), count in sorted(collections.Counter((a["host"], a["alert"]["signature_id"], a["alert"]["signature"]) for a in alerts).items()):
    print(f"     {host:8} {sid}  {count:5d}  {name}")'

echo
echo "== 6. Each agent alone on its capture (mbox-agent replay, no controller) gives the same alerts:"
for agent in edge-1 edge-2; do
  $bin/mbox-agent replay --pcap "$out/$agent.pcap" --chain chains/fleet/ids-edge.yaml --eve "$out/$agent.eve" 2>/dev/null
  standalone=$(wc -l < "$out/$agent.eve")
  central=$($bin/mboxctl alerts -o json --agent "$agent" --limit 100000 | wc -l)
  echo "   $agent: standalone $standalone, at the controller $central"
done

echo
echo "== 6b. Prometheus metrics from the controller (excerpt)"
metrics=$(grep -o 'http://[^ ]*/metrics' "$out/controller.log")
python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "$metrics" \
  | grep -E '^mbox_(alerts_stored_total|agent_(packets|alerts|spool_pending|config_applied_version|port_missed))' | sed 's/^/   /'
echo "   and from edge-1 itself (mbox-agent run --metrics: its workers and its DPDK ports)"
metrics=$(grep -o 'http://[^ ]*/metrics' "$out/edge-1.log")
python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "$metrics" \
  | grep -E '^mbox_(packets_total|alerts_total|malformed_total|port_rx_packets_total|port_rx_missed_total|port_rx_nombuf_total|controller_connected|spool_pending)' \
  | sort | sed 's/^/   /'

echo
echo "== 7. A changed policy: one more rule, pushed to both running agents (no restart, flows kept)"
mkdir -p "$out/policy/rules"
sed 's|../../rules/web-attacks.rules|rules/web-attacks.rules|' chains/fleet/ids-edge.yaml > "$out/policy/ids-edge.yaml"
{ cat rules/web-attacks.rules
  echo 'alert tcp any any -> any 80 (msg:"HTTP/1.1 request"; flow:to_server,established; content:"HTTP/1.1"; sid:1000100; rev:1;)'
} > "$out/policy/rules/web-attacks.rules"
$bin/mboxctl apply -f "$out/policy/ids-edge.yaml"
sleep 1
$bin/mboxctl get agents
grep "applied config" "$out/edge-1.log" | sed 's/^/   edge-1: /'

$bin/mboxctl history ids-edge
$bin/mboxctl history ids-edge --diff "$($bin/mboxctl history ids-edge -o json | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])')" | tail -4

echo
echo "== 8. The web console: a token for alice, and its pages in headless Chromium"
console=$(grep -o 'https://[^ ]*/' "$out/controller.log" | head -1)
token=$($bin/mboxctl console-token --ttl 1h)
echo "   $console  (sign in: ${console}login?token=…)"
if command -v chromium >/dev/null 2>&1; then
  printf '%s\n' "goto ${console}login?token=$token" "shot $out/console-fleet.png" \
    "goto ${console}chains/ids-edge" "shot $out/console-chain.png" \
    "goto ${console}alerts" "shot $out/console-alerts.png" \
    "goto ${console}agents/edge-1" "shot $out/console-agent.png" quit \
    | python3 Tests/Browser/console_browser.py chromium | grep -c '"ok": true' | sed 's/^/   pages loaded and photographed (of 8 steps): /'
  ls "$out"/console-*.png | sed 's/^/   /'
else
  echo "   (chromium is not installed: no screenshots)"
fi

echo
echo "== 9. Stop: agents and controller shut down on SIGTERM"
cleanup
pids=()
tail -n 3 "$out/edge-1.log"
echo "   files in $out"
