#!/usr/bin/env bash
# The TCP Splicer as an L7 load balancer with real clients and servers: a client namespace
# and a server namespace (three nginx backends on 10.199.0.11-13) joined only through the
# agent (DPDK net_af_packet on two veth pairs). curl asks the service address
# 10.199.0.100:80 that no host owns; every response must be byte-identical to the file
# (sha256), spread over the backends as the balancer's rules say (nginx's access logs).
# Then HTTPS to the service's port 443, routed by SNI to two TLS backends; a request
# straight to a backend (TCP Monitor + IDS) and a UDP datagram (L2/L3) in the same chain;
# and a backend killed: later requests go to the others, all intact.
# Needs root, nginx, curl and openssl.
#   scripts/netns-splicer.sh [REQUESTS] [AGENT]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-200}
agent=${2:-$(ls -t .build/release/mbox-agent .build/debug/mbox-agent 2>/dev/null | head -1)}
[ -x "$agent" ] || { echo "build the agent first" >&2; exit 2; }
command -v nginx >/dev/null || { echo "needs nginx (apt-get install nginx-light)" >&2; exit 2; }
source scripts/netns-lib.sh
netns_setup 10.199.0.1/24 10.199.0.11/24 10.199.0.12/24 10.199.0.13/24

# Three backends serving the same files; each logs which requests it answered.
mkdir -p "$work/www/static" "$work/www/direct"
echo "straight to a backend" > "$work/www/direct/page.txt"
head -c 100000 /dev/urandom > "$work/www/object.bin"
head -c 1000 /dev/urandom > "$work/www/static/small.bin"
# One nginx per backend, so one can be killed mid-test.
start_backends "$work/www" 10.199.0.11 10.199.0.12 10.199.0.13

start_agent "$agent" --chain chains/l7-balancer.yaml --eve "$work/eve.json"

status=0
want=$(sha256sum < "$work/www/object.bin" | cut -d' ' -f1)
want_small=$(sha256sum < "$work/www/static/small.bin" | cut -d' ' -f1)
good=0
for i in $(seq 1 "$requests"); do
  got=$( (ip netns exec "$client" curl -s --max-time 5 "http://10.199.0.100/object.bin" || true) | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] && good=$((good + 1))
done
echo "object.bin: $good of $requests responses byte-identical (sha256)"
[ "$good" -eq "$requests" ] || status=1
small=0
for i in 1 2 3 4 5 6; do
  got=$( (ip netns exec "$client" curl -s --max-time 5 "http://10.199.0.100/static/small.bin" || true) | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want_small" ] && small=$((small + 1))
done
echo "static/small.bin: $small of 6 byte-identical"
[ "$small" -eq 6 ] || status=1

# TLS through the splicer, routed by SNI (the ClientHello is the request it holds): each
# name reaches its own backend, whose certificate curl then sees.
for name in a b; do
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$name.example" -addext "subjectAltName=DNS:$name.example" \
    -keyout "$work/$name.key" -out "$work/$name.crt" 2>/dev/null
done
cat > "$work/tls.conf" <<CONF
worker_processes 1;
pid $work/nginx-tls.pid;
error_log $work/nginx-tls-error.log;
events { worker_connections 1024; }
http {
  server { listen 10.199.0.11:443 ssl; ssl_certificate $work/a.crt; ssl_certificate_key $work/a.key; root $work/www; access_log $work/tls11.log; }
  server { listen 10.199.0.12:443 ssl; ssl_certificate $work/b.crt; ssl_certificate_key $work/b.key; root $work/www; access_log $work/tls12.log; }
}
CONF
chmod a+r "$work"/*.key
ip netns exec "$server" nginx -c "$work/tls.conf"
for pair in a:11 b:12; do
  name=${pair%:*} backend=${pair#*:}
  got=$( (ip netns exec "$client" curl -s --max-time 5 --cacert "$work/$name.crt" --resolve "$name.example:443:10.199.0.100" \
    "https://$name.example/object.bin" || true) | sha256sum | cut -d' ' -f1)
  served=$(grep -c "GET /object.bin" "$work/tls$backend.log" 2>/dev/null || true)
  if [ "$got" = "$want" ] && [ "${served:-0}" -eq 1 ]; then
    echo "tls $name.example: routed by SNI to 10.199.0.$backend, certificate verified, byte-identical"
  else
    echo "tls $name.example: FAILED (sha256 ${got:0:12}, backend 10.199.0.$backend served ${served:-0})"; status=1
  fi
done

# Other stacks in the same chain: a request straight to a backend (TCP Monitor, the IDS
# alerts on it) and a UDP datagram (L2/L3).
direct=$(ip netns exec "$client" curl -s --max-time 5 "http://10.199.0.11/direct/page.txt" || true)
[ "$direct" = "straight to a backend" ] && echo "direct request: answered (TCP Monitor)" || { echo "direct request: FAILED"; status=1; }
ip netns exec "$client" python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"ping", ("10.199.0.12", 9999))'

# A backend dies: its new connections are refused, the balancer takes it out and the
# client never notices.
kill "$(cat "$work/nginx12.pid")"; rm -f "$work/nginx12.pid"
sleep 0.2
after=0
for i in $(seq 1 30); do
  got=$( (ip netns exec "$client" curl -s --max-time 5 "http://10.199.0.100/object.bin" || true) | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] && after=$((after + 1))
done
echo "after backend 10.199.0.12 died: $after of 30 byte-identical"
[ "$after" -eq 30 ] || status=1

stop_agent
if grep -q '"signature_id":3000001' "$work/eve.json"; then echo "alert: sid 3000001 (the IDS on the monitor's flow)"; else echo "alert: MISSING"; status=1; fi
stacks=$(grep "^stacks" "$work/agent.log" || true)
# (IPv6 neighbour discovery in the namespaces also makes l2l3 flows.)
for expected in "l2l3=" "tcp_monitor=1 " "tcp_splicer=$((requests + 6 + 2 + 30))"; do
  case "$stacks" in *"$expected"*) ;; *) echo "stacks: expected $expected in '$stacks'"; status=1 ;; esac
done
for backend in 11 12 13; do
  objects=$(grep -c "GET /object.bin" "$work/backend$backend.log" 2>/dev/null || true)
  statics=$(grep -c "GET /static/" "$work/backend$backend.log" 2>/dev/null || true)
  echo "backend 10.199.0.$backend: ${objects:-0} object requests, ${statics:-0} static requests"
done
# Round robin over three backends: each takes a third of the object requests (backend 12
# none after it died); the static pool is backend 13 alone.
for backend in 11 12; do
  [ "$(grep -c "GET /static/" "$work/backend$backend.log" 2>/dev/null || true)" = "0" ] || { echo "static request on backend $backend"; status=1; }
done
objects12=$(grep -c "GET /object.bin" "$work/backend12.log" 2>/dev/null || true)
[ "${objects12:-0}" -eq $(((requests + 1) / 3)) ] || { echo "backend 12 took ${objects12:-0} of $requests: not round robin"; status=1; }
# Every HTTP request (the balancer's, and the direct one the DPI and the IDS read) is
# parsed once, by the application-layer stage; a backend's refusal re-asks without a re-parse.
parsed=$(sed -n 's/^app layer *\([0-9]*\) HTTP requests parsed.*/\1/p' "$work/agent.log")
sent=$((requests + 6 + 30 + 1))
if [ "${parsed:-0}" -eq "$sent" ]; then echo "HTTP requests parsed once: $parsed of $sent sent"
else echo "HTTP requests parsed: ${parsed:-none} for $sent sent"; status=1; fi
grep -E "^splicer|^stacks|^port" "$work/agent.log" || true
[ $status -eq 0 ] || tail -30 "$work/agent.log"
exit $status
