#!/usr/bin/env bash
# Runs the agent's IDS chain and Suricata 7 on the same capture and rules and compares the
# sets of (signature, flow) alerts. Exit 0 when they are equal.
#   scripts/compare-suricata.sh CAPTURE.pcap RULES [CHAIN.yaml]
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 CAPTURE.pcap RULES [CHAIN.yaml]" >&2; exit 2; }
pcap=$1; rules=$2; chain=${3:-}
cd "$(dirname "$0")/.."
# The most recently built agent, unless AGENT names one.
agent=${AGENT:-$(ls -t .build/release/mbox-agent .build/debug/mbox-agent 2>/dev/null | head -1)}
[ -n "$agent" ] && [ -x "$agent" ] || { echo "build the agent first (swift build -c release)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
args=(replay --pcap "$pcap" --rules "$rules" --eve "$out/agent.json")
[ -n "$chain" ] && args+=(--chain "$chain")
"$agent" "${args[@]}" 2>"$out/agent.log" || { cat "$out/agent.log" >&2; exit 2; }
mkdir -p "$out/suricata"
suricata -r "$pcap" -S "$rules" -l "$out/suricata" -k none --runmode single >/dev/null 2>&1
python3 - "$out/agent.json" "$out/suricata/eve.json" <<'PY'
import ipaddress, json, sys
def alerts(path):
    found = set()
    for line in open(path):
        event = json.loads(line)
        if event.get("event_type") == "alert":
            # Suricata writes IPv6 in full; compare canonical forms.
            ip = lambda text: ipaddress.ip_address(text).compressed
            ends = sorted([(ip(event["src_ip"]), event["src_port"]), (ip(event["dest_ip"]), event["dest_port"])])
            found.add((event["alert"]["signature_id"], *ends[0], *ends[1]))
    return found
ours, theirs = alerts(sys.argv[1]), alerts(sys.argv[2])
print(f"agent {len(ours)} alerts, suricata {len(theirs)}, both {len(ours & theirs)}")
for label, extra in (("only the agent", ours - theirs), ("only suricata", theirs - ours)):
    for item in sorted(extra)[:20]:
        print(f"  {label}: sid {item[0]} {item[1]}:{item[2]} <-> {item[3]}:{item[4]}")
sys.exit(0 if ours == theirs else 1)
PY
