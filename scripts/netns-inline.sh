#!/usr/bin/env bash
# Real traffic through the agent inline on DPDK net_af_packet: a client and a server in two
# network namespaces made here, joined only through the agent (veth pairs). A normal HTTP
# request (curl -> python http.server) arrives intact; one carrying "UNION SELECT" is
# dropped by the IPS chain and never answered; one for cmd.exe is rejected (the client gets a
# RST at once). Needs root. Exit 0 when all hold.
#   scripts/netns-inline.sh [AGENT]
set -euo pipefail
cd "$(dirname "$0")/.."
agent=${1:-$(ls -t .build/release/mbox-agent .build/debug/mbox-agent 2>/dev/null | head -1)}
[ -x "$agent" ] || { echo "build the agent first" >&2; exit 2; }
source scripts/netns-lib.sh
netns_setup 10.199.0.1/24 10.199.0.2/24

mkdir -p "$work/www"
echo "hello through the agent" > "$work/www/hello.txt"
ip netns exec "$server" python3 -m http.server 8080 --bind 10.199.0.2 --directory "$work/www" >/dev/null 2>&1 &
echo $! > "$work/http-server.pid"
disown  # killed at the end; no job report

start_agent "$agent" --chain chains/ips-inline.yaml --rules rules/ips-demo.rules --eve "$work/eve.json"
for _ in $(seq 1 50); do ip netns exec "$client" bash -c "exec 3<>/dev/tcp/10.199.0.2/8080" 2>/dev/null && break; sleep 0.1; done

status=0
body=$(ip netns exec "$client" curl -s --max-time 5 http://10.199.0.2:8080/hello.txt || true)
if [ "$body" = "hello through the agent" ]; then echo "normal request: answered intact"; else echo "normal request: FAILED ('$body')"; status=1; fi
if ip netns exec "$client" curl -s --max-time 3 -H "X-Query: 1' UNION SELECT password FROM users" \
     http://10.199.0.2:8080/hello.txt >/dev/null; then
  echo "attack request: FAILED (it was answered)"; status=1
else
  echo "attack request: dropped (no answer)"
fi
body=$(ip netns exec "$client" curl -s --max-time 5 http://10.199.0.2:8080/hello.txt || true)
if [ "$body" = "hello through the agent" ]; then echo "normal request again: answered intact"; else echo "normal request again: FAILED"; status=1; fi
# A reject rule: the client is told at once (a RST from the agent), not left to time out.
code=0
ip netns exec "$client" curl -s --max-time 3 http://10.199.0.2:8080/scripts/cmd.exe >/dev/null || code=$?
if [ "$code" -eq 56 ]; then echo "rejected request: connection reset"; else echo "rejected request: FAILED (curl exit $code, 56 is a reset)"; status=1; fi

stop_agent
grep -E "^port|^verdicts|^alerts" "$work/agent.log" || true
if grep -q '"signature_id":2000001' "$work/eve.json"; then echo "alert: sid 2000001 in EVE"; else echo "alert: MISSING"; status=1; fi
if grep -q '"signature_id":2000002' "$work/eve.json"; then echo "alert: sid 2000002 in EVE"; else echo "alert: reject MISSING"; status=1; fi
exit $status
