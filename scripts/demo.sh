#!/usr/bin/env bash
# End-to-end demo of the agent: generate hostile-but-realistic traffic, replay it through
# parse -> flow table -> TCP Monitor -> reassembly, show a reassembled stream next to
# tshark's, run the IDS chain (DPI + Signature_Match with dynamic subscriptions) and compare
# its alerts with Suricata's, measure the data path and the seed's experiments, and (as
# root, with DPDK) send real traffic through the agent inline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
bin=.build/release
out=${DEMO_DIR:-$(mktemp -d /tmp/mbox-demo.XXXXXX)}
mkdir -p "$out"

echo "== 1. Generate 2,000 flows: HTTP, TLS, SSH, DNS; out-of-order, retransmitted and overlapping"
echo "==    segments, sequence wrap-around, 30% IPv6, VLAN 100, malformed packets, a split attack string"
$bin/mbox-trafficgen -o "$out/demo.pcap" --flows 2000 --concurrency 64 --out-of-order 0.2 --retransmit 0.1 \
  --overlap 0.05 --sequence-wrap --ipv6 0.3 --vlan 100 --malformed 0.01 \
  --attack "UNION SELECT" --attack-share 0.1 --attack-segments 3

echo
echo "== 2. Replay through the agent's data path"
$bin/mbox-agent replay --pcap "$out/demo.pcap" --streams "$out/streams.jsonl"

echo
echo "== 3. One flow whose request carries the attack split across 3 segments, reassembled:"
line=$(python3 -c '
import base64, json, sys
for l in open(sys.argv[1]):
    if b"UNION SELECT" in base64.b64decode(json.loads(l)["to_server"]):
        print(l.strip()); break' "$out/streams.jsonl")
python3 - "$line" <<'PY'
import base64, json, sys
o = json.loads(sys.argv[1])
print(f"   {o['src_ip']}:{o['src_port']} -> {o['dest_ip']}:{o['dest_port']}  client {o['client_state']}, server {o['server_state']}")
print("   to_server:", " | ".join(base64.b64decode(o["to_server"]).decode(errors="replace").splitlines()[:2]), "...")
body = base64.b64decode(o["to_server"]).split(b"\r\n\r\n", 1)[1]
print("   body     :", body[:60].decode(errors="replace"))
PY

echo
echo "== 4. The same flow as tshark reassembles it (follow,tcp,raw):"
port=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["src_port"])' "$line")
stream=$(tshark -r "$out/demo.pcap" 2>/dev/null -Y "tcp.srcport==$port && tcp.flags.syn==1 && tcp.flags.ack==0" -T fields -e tcp.stream | head -1)
tshark -r "$out/demo.pcap" -q -z "follow,tcp,raw,$stream" 2>/dev/null | grep -v '^\s' | grep -E '^[0-9a-f]+$' \
  | python3 -c 'import sys; print(bytes.fromhex(sys.stdin.read().replace("\n", ""))[:300].decode(errors="replace"))'
echo
echo
echo "== 5. The IDS chain (chains/ids.yaml) with rules/web-attacks.rules; alerts as Suricata EVE JSON"
$bin/mbox-agent replay --pcap "$out/demo.pcap" --rules rules/web-attacks.rules --eve "$out/eve.json"
python3 - "$out/eve.json" <<'PY'
import collections, json, sys
alerts = [json.loads(line) for line in open(sys.argv[1])]
print("   alerts by signature:")
for (sid, name), count in sorted(collections.Counter((a["alert"]["signature_id"], a["alert"]["signature"]) for a in alerts).items()):
    print(f"     {sid}  {count:5d}  {name}")
attack = next(a for a in alerts if a["alert"]["signature_id"] == 1000001)
print("   one of them:", json.dumps(attack))
PY

echo
echo "== 6. The same capture and rules through Suricata 7: the (signature, flow) alert sets must be equal"
bash scripts/compare-suricata.sh "$out/demo.pcap" rules/web-attacks.rules

echo
echo "== 7. Data path throughput per core (release build, 500k-packet HTTP capture from memory)"
$bin/mbox-bench-dataplane --runs 3
echo
echo "== 8. The seed's experiments: configurations 1-5, IDS+Mon sequential vs parallel, Suricata side by side"
$bin/mbox-bench-seed --runs 3
if [ "$(id -u)" -eq 0 ] && [ -f /usr/include/dpdk/rte_eal.h ]; then
  echo
  echo "== 9. Real traffic through the agent inline on DPDK net_af_packet (two network namespaces):"
  echo "==    a normal request is answered, one carrying UNION SELECT is dropped by the IPS chain"
  bash scripts/netns-inline.sh "$bin/mbox-agent"
fi
echo
echo "Files in $out"
