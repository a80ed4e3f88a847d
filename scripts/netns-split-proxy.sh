#!/usr/bin/env bash
# The TCP Split Proxy with real clients and servers: a client namespace and a server
# namespace (three nginx backends, 10.199.0.11-13) joined only through the agent (DPDK
# net_af_packet on two veth pairs), each link impaired both ways by scripts/impair.py
# (tc netem's stand-in: loss, delay, jitter, reordering). curl asks the service address
# 10.199.0.100:80; the agent terminates the client's connection, opens its own to the
# backend the balancer picks, and the HTTP rewriter edits the header blocks in between.
#  - a large download arrives byte-identical (sha256) despite the impairment;
#  - the backend logs the client's address in X-Forwarded-For, and never the header the
#    rewriter strips; responses lose `Server`, gain `Via`, get `Location` rewritten;
#  - several requests on one kept-alive connection, with Content-Length and chunked
#    (gzip) bodies mixed, all arrive intact and rewritten: the framing stayed valid;
#  - with chains/http-cache.yaml, a cached object is answered by the agent itself (the
#    TCP Endpoint): the origins see only the first request.
# Needs root, nginx and curl.
#   scripts/netns-split-proxy.sh [MEGABYTES] [AGENT]
set -euo pipefail
cd "$(dirname "$0")/.."
megabytes=${1:-100}
agent=${2:-$(ls -t .build/release/mbox-agent .build/debug/mbox-agent 2>/dev/null | head -1)}
[ -x "$agent" ] || { echo "build the agent first" >&2; exit 2; }
command -v nginx >/dev/null || { echo "needs nginx (apt-get install nginx-light)" >&2; exit 2; }
export IMPAIR=${IMPAIR:---loss 1 --delay 2 --reorder 1}
export IMPAIR_SEED=${IMPAIR_SEED:-7}
source scripts/netns-lib.sh
netns_setup 10.199.0.1/24 10.199.0.11/24 10.199.0.12/24 10.199.0.13/24

mkdir -p "$work/www/dir"
head -c $((megabytes * 1000000)) /dev/urandom > "$work/www/large.bin"
head -c 20000 /dev/urandom > "$work/www/small.bin"
# Text that compresses: nginx sends it gzip'd and chunked (its length unknown up front).
for i in $(seq 1 4000); do echo "line $i of a text that gzip shrinks and nginx sends in chunks"; done > "$work/www/text.txt"
echo "inside" > "$work/www/dir/index.html"
for id in 11 12 13; do
  cat > "$work/nginx$id.conf" <<CONF
worker_processes 1;
pid $work/nginx$id.pid;
error_log $work/nginx-error$id.log;
events { worker_connections 1024; }
http {
  log_format proxied '\$request xff="\$http_x_forwarded_for" token="\$http_x_internal_token"';
  access_log $work/backend$id.log proxied;
  gzip on; gzip_types text/plain; gzip_min_length 1;
  types { text/plain txt; text/html html; application/octet-stream bin; }
  server { listen 10.199.0.$id:80; root $work/www; }
}
CONF
  ip netns exec "$server" nginx -c "$work/nginx$id.conf"
done
start_agent "$agent" --chain chains/split-proxy.yaml

status=0
fail() { echo "FAILED: $*"; status=1; }
fetch() { ip netns exec "$client" curl -s --max-time "${CURL_TIME:-300}" "$@"; }

# 1. A large download through the impaired links.
want=$(sha256sum < "$work/www/large.bin" | cut -d' ' -f1)
start=$(date +%s.%N)
got=$( (fetch "http://10.199.0.100/large.bin" || true) | sha256sum | cut -d' ' -f1)
seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" "BEGIN { printf \"%.1f\", b - a }")
if [ "$got" = "$want" ]; then
  echo "large.bin: $megabytes MB byte-identical (sha256) in ${seconds} s through the impaired links"
else
  fail "large.bin ($megabytes MB) arrived damaged or incomplete"
fi

# 2. Header rewriting, both ways.
fetch -D "$work/h1" -o /dev/null -H "X-Internal-Token: secret" "http://10.199.0.100/small.bin" || true
grep -h "GET /small.bin" "$work"/backend1*.log | grep -q 'xff="10.199.0.1" token="-"' \
  && echo "request: the backend saw X-Forwarded-For 10.199.0.1 and no X-Internal-Token" \
  || fail "request headers not rewritten: $(grep -h 'GET /small.bin' "$work"/backend1*.log)"
if ! grep -qi "^server:" "$work/h1" && grep -qi "^via: 1.1 mbox-split-proxy" "$work/h1"; then
  echo "response: Server stripped, Via added"
else
  fail "response headers not rewritten: $(tr -d '\r' < "$work/h1" | tr '\n' '|')"
fi
fetch -D "$work/h2" -o /dev/null "http://10.199.0.100/dir" || true
grep -qi "^location: https://www.example.org/dir/" "$work/h2" \
  && echo "redirect: Location rewritten to https://www.example.org/dir/" \
  || fail "Location not rewritten: $(grep -i '^location' "$work/h2" | tr -d '\r')"

# 3. One kept-alive connection, Content-Length and chunked bodies mixed.
want_small=$(sha256sum < "$work/www/small.bin" | cut -d' ' -f1)
want_text=$(sha256sum < "$work/www/text.txt" | cut -d' ' -f1)
fetch --compressed -D "$work/h3" -o "$work/r1" "http://10.199.0.100/small.bin" -o "$work/r2" "http://10.199.0.100/text.txt" \
  -o "$work/r3" "http://10.199.0.100/small.bin" -o "$work/r4" "http://10.199.0.100/text.txt" || true
intact=0
for pair in r1:$want_small r2:$want_text r3:$want_small r4:$want_text; do
  file=${pair%%:*} sum=${pair#*:}
  [ -f "$work/$file" ] && [ "$(sha256sum < "$work/$file" | cut -d' ' -f1)" = "$sum" ] && intact=$((intact + 1))
done
chunked=$(grep -ci "^transfer-encoding: chunked" "$work/h3" || true)
vias=$(grep -ci "^via: 1.1 mbox-split-proxy" "$work/h3" || true)
connections=$(grep -c "GET /" "$work"/backend1*.log | awk -F: '{s+=$2} END {print s}')
if [ "$intact" -eq 4 ] && [ "$chunked" -eq 2 ] && [ "$vias" -eq 4 ]; then
  echo "keep-alive: 4 of 4 responses intact on one connection (2 chunked), each rewritten"
else
  fail "keep-alive: $intact of 4 intact, $chunked chunked, $vias rewritten"
fi

sleep 1  # closing handshakes finish through the impaired links
stop_agent
grep -E "^(split proxy|splicer|stacks)" "$work/agent.log" || true

# 4. The cache: the first request for an object goes to an origin and fills the cache;
# later ones are answered by the agent itself (TCP Endpoint), no origin sees them.
start_agent "$agent" --chain chains/http-cache.yaml
for i in 1 2 3; do fetch -D "$work/c$i" -o "$work/cached$i" "http://10.199.0.100/small.bin" || true; done
origin=$(cat "$work"/backend1*.log | grep -c "GET /small.bin" || true)
cached=0 hits=0
for i in 1 2 3; do
  [ -f "$work/cached$i" ] && [ "$(sha256sum < "$work/cached$i" | cut -d' ' -f1)" = "$want_small" ] && cached=$((cached + 1))
  grep -qi "^x-cache: hit" "$work/c$i" && hits=$((hits + 1))
done
# Requests for small.bin before this part: 1 (rewriting check) + 2 (keep-alive).
if [ "$cached" -eq 3 ] && [ "$hits" -eq 2 ] && [ "$origin" -eq 4 ]; then
  echo "cache: 3 of 3 responses byte-identical, 2 answered by the agent (X-Cache: HIT), the origins saw only the first"
else
  fail "cache: $cached of 3 intact, $hits hits, origins saw $origin requests for small.bin (3 expected before, 1 now)"
fi
sleep 1  # closing handshakes finish through the impaired links
stop_agent
impairment_report
grep -E "^(split proxy|splicer|stacks)" "$work/agent.log" || true
[ "$status" -eq 0 ] || { echo "--- agent log"; tail -30 "$work/agent.log"; }
exit "$status"
