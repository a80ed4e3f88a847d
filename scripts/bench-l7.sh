#!/usr/bin/env bash
# L7 load balancing benchmark, one run, same topology, backends and client for each
# balancer: a client namespace and a server namespace (three nginx backends) joined by
#   splicer  the agent inline on DPDK net_af_packet, chains/l7-balancer.yaml (TCP Splicer
#            + L7_LoadBalancer, round robin);
#   split    the same agent with chains/split-proxy.yaml (TCP Split Proxy + L7_LoadBalancer
#            + HTTP_Rewriter on every header block);
#   haproxy  HAProxy 2.6, mode http, roundrobin, on a Linux bridge between the two links;
#   nginx    nginx as a reverse proxy (upstream round robin), on the same bridge.
# Each balancer gets core 0 (the agent's lcore, HAProxy with one thread, one nginx
# worker); wrk (one thread) and the backends share core 1. Per balancer: 1 KB and 100 KB
# objects over keep-alive connections, and 1 KB with a new connection per request; then the
# splicer alone with 10,000 concurrent connections.
# Printed: requests/s, p99 latency, and the balancer's CPU time per request (the agent
# busy-polls its core: its figure is the time it spent on rounds that had packets).
# Needs root, nginx, haproxy, wrk and a release build of the agent.
#   scripts/bench-l7.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-50}
agent=.build/release/mbox-agent
[ -x "$agent" ] || { echo "build the agent first: swift build -c release --product mbox-agent" >&2; exit 2; }
for tool in nginx haproxy wrk; do command -v $tool >/dev/null || { echo "needs $tool (scripts/setup.sh installs it)" >&2; exit 2; }; done
cores=$(nproc)
source scripts/netns-lib.sh
netns_setup 10.199.0.1/24 10.199.0.11/24 10.199.0.12/24 10.199.0.13/24
mkdir -p "$work/www"
head -c 1024 /dev/urandom > "$work/www/1k.bin"
head -c 102400 /dev/urandom > "$work/www/100k.bin"
chmod -R a+rX "$work/www"
backend_core=$((cores > 1 ? 1 : 0))
BACKEND_PREFIX="taskset -c $backend_core" start_backends "$work/www" 10.199.0.11 10.199.0.12 10.199.0.13
ip netns exec "$client" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1

# CPU seconds (user + system) of the processes in PIDS.
cpu_seconds() {
  local ticks=0
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}

# run_wrk NAME PATH [close]: one wrk run against the service address; prints
# "requests/s p99_ms requests".
run_wrk() {
  local path=$1 close=${2:-}
  local header=()
  [ -n "$close" ] && header=(-H "Connection: close")
  ip netns exec "$client" taskset -c "$backend_core" wrk -t1 -c"$connections" -d"${seconds}s" --latency "${header[@]}" \
    "http://10.199.0.100$path" > "$work/wrk.out" 2>&1 || true
  local rps p99 total errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' "$work/wrk.out")
  total=$(awk '/requests in/ {print $1}' "$work/wrk.out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$work/wrk.out" | tr '\n' ' ')
  [ -n "$errors" ] && echo "    ($1: $errors)" >&2
  echo "${rps:-0} ${p99:-0} ${total:-0}"
}

# measure NAME CPU_PIDS...: the three workloads against a proxy serving 10.199.0.100:80.
declare -A results
measure() {
  local name=$1; shift
  for workload in "1k:/1k.bin:" "100k:/100k.bin:" "conn:/1k.bin:close"; do
    IFS=: read -r label path close <<< "$workload"
    local before after
    before=$(cpu_seconds "$@")
    read -r rps p99 total <<< "$(run_wrk "$path" "$close")"
    after=$(cpu_seconds "$@")
    local per=0
    [ "${total:-0}" -gt 0 ] && per=$(awk -v a="$after" -v b="$before" -v n="$total" 'BEGIN { printf "%.1f", (a - b) * 1e6 / n }')
    results[$name,$label]="$rps $p99 $per"
    printf "  %-8s %-5s %10s req/s  p99 %8s ms  %8s µs CPU/request\n" "$name" "$label" "$rps" "$p99" "$per"
  done
}

echo "L7 balancing, $seconds s per workload, $connections connections, wrk and backends on core $backend_core, balancer on core 0"

# 1. The agent's stacks, one agent per workload (its busy time is reported at exit): the
# Splicer (chains/l7-balancer.yaml), and the Split Proxy with the HTTP rewriter on every
# header block (chains/split-proxy.yaml).
agent_measure() {
  local name=$1 chain=$2
  for workload in "1k:/1k.bin:" "100k:/100k.bin:" "conn:/1k.bin:close"; do
    IFS=: read -r label path close <<< "$workload"
    AGENT_LCORES="--lcores=0@0" start_agent "$agent" --chain "$chain"
    ip netns exec "$client" curl -s -o /dev/null --max-time 5 http://10.199.0.100/1k.bin || true
    read -r rps p99 total <<< "$(run_wrk "$path" "$close")"
    stop_agent
    busy=$(awk '/^busy/ {print $2}' "$work/agent.log")
    per=$(awk -v b="${busy:-0}" -v n="${total:-0}" 'BEGIN { if (n > 0) printf "%.1f", b * 1e6 / n; else print 0 }')
    results[$name,$label]="$rps $p99 $per"
    printf "  %-8s %-5s %10s req/s  p99 %8s ms  %8s µs CPU/request\n" "$name" "$label" "$rps" "$p99" "$per"
    grep -E "^(splicer|split proxy)" "$work/agent.log" | sed 's/^/    /' >&2 || true
  done
}
# ONLY=splicer|split|others runs one part (for quick checks; the table needs all).
[ -z "${ONLY:-}" ] || [ "$ONLY" = splicer ] && agent_measure splicer chains/l7-balancer.yaml
[ -z "${ONLY:-}" ] || [ "$ONLY" = split ] && agent_measure split chains/split-proxy.yaml
[ -z "${ONLY:-}" ] || [ "$ONLY" = others ] || exit 0

# The splicer alone with 10,000 concurrent connections (HAProxy and nginx would need more
# descriptors than this machine's hard limit of 20,000 allows: two per proxied connection).
if [ "$(ulimit -Hn)" -ge 12000 ]; then
  ulimit -n "$(ulimit -Hn)"
  AGENT_LCORES="--lcores=0@0" start_agent "$agent" --chain chains/l7-balancer.yaml
  ip netns exec "$client" taskset -c "$backend_core" wrk -t1 -c10000 -d"${seconds}s" --timeout 10s --latency \
    "http://10.199.0.100/1k.bin" > "$work/wrk.out" 2>&1 || true
  stop_agent
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out")
  errors=$(awk '/Socket errors|Non-2xx/ {print}' "$work/wrk.out" | tr '\n' ' ')
  spliced=$(awk '/^splicer/ {for (i = 1; i < NF; i++) if ($(i + 1) == "spliced,") print $i}' "$work/agent.log")
  printf "  %-8s %-5s %10s req/s  %s connections spliced; errors: %s\n" splicer c10k "${rps:-0}" "${spliced:-0}" "${errors:-none}"
fi

# 2./3. HAProxy and nginx on a bridge in a proxy namespace, owning 10.199.0.100.
ip netns add "$proxy"
ip link set "vc$$" netns "$proxy"
ip link set "vs$$" netns "$proxy"
ip -n "$proxy" link add br0 type bridge
ip -n "$proxy" link set "vc$$" master br0
ip -n "$proxy" link set "vs$$" master br0
ip -n "$proxy" addr add 10.199.0.100/24 dev br0
for dev in lo br0 "vc$$" "vs$$"; do ip -n "$proxy" link set "$dev" up; done
ip netns exec "$proxy" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1
ip netns exec "$client" ip neigh flush all

cat > "$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 4096
  pidfile $work/haproxy.pid
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend web
  bind 10.199.0.100:80
  default_backend pool
backend pool
  balance roundrobin
  server b11 10.199.0.11:80
  server b12 10.199.0.12:80
  server b13 10.199.0.13:80
CONF
ip netns exec "$proxy" taskset -c 0 haproxy -D -f "$work/haproxy.cfg"
sleep 0.5
measure haproxy "$(cat "$work/haproxy.pid")"
kill "$(cat "$work/haproxy.pid")"; rm -f "$work/haproxy.pid"
sleep 0.5

cat > "$work/proxy-nginx.conf" <<CONF
worker_processes 1;
pid $work/proxy-nginx.pid;
error_log $work/proxy-nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream pool { server 10.199.0.11:80; server 10.199.0.12:80; server 10.199.0.13:80; keepalive 64; }
  server {
    listen 10.199.0.100:80 backlog=4096;
    location / { proxy_pass http://pool; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
CONF
ip netns exec "$proxy" taskset -c 0 nginx -c "$work/proxy-nginx.conf"
sleep 0.5
master=$(cat "$work/proxy-nginx.pid")
measure nginx "$master" $(pgrep -P "$master" | tr '\n' ' ')
kill "$(cat "$work/proxy-nginx.pid")"; rm -f "$work/proxy-nginx.pid"

echo
echo "| workload | Splicer req/s | Split Proxy req/s | HAProxy req/s | nginx req/s | Splicer ÷ HAProxy | Split ÷ HAProxy | p99 ms (Splicer / Split / HAProxy / nginx) | µs CPU per request (Splicer / Split / HAProxy / nginx) |"
echo "|---|---|---|---|---|---|---|---|---|"
for label in 1k 100k conn; do
  read -r s_rps s_p99 s_cpu <<< "${results[splicer,$label]}"
  read -r p_rps p_p99 p_cpu <<< "${results[split,$label]}"
  read -r h_rps h_p99 h_cpu <<< "${results[haproxy,$label]}"
  read -r n_rps n_p99 n_cpu <<< "${results[nginx,$label]}"
  ratio=$(awk -v s="$s_rps" -v h="$h_rps" 'BEGIN { if (h > 0) printf "%.2f", s / h; else print "-" }')
  split_ratio=$(awk -v s="$p_rps" -v h="$h_rps" 'BEGIN { if (h > 0) printf "%.2f", s / h; else print "-" }')
  name=$label; [ "$label" = 1k ] && name="1 KB, keep-alive"; [ "$label" = 100k ] && name="100 KB, keep-alive"; [ "$label" = conn ] && name="1 KB, new connection each"
  echo "| $name | $s_rps | $p_rps | $h_rps | $n_rps | $ratio | $split_ratio | $s_p99 / $p_p99 / $h_p99 / $n_p99 | $s_cpu / $p_cpu / $h_cpu / $n_cpu |"
done
