# Shared by the network-namespace scripts (sourced): a client namespace and a server
# namespace, each with an eth0 whose peer (vc$$, vs$$) stays in this namespace for the
# agent's DPDK net_af_packet ports, offloads off (the agent sees real checksums); nginx
# backends; cleanup on exit. Needs root.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespaces)" >&2; exit 2; }
work=$(mktemp -d)
client=mbox-c$$ server=mbox-s$$ proxy=mbox-p$$ agent_pid=""
chmod 755 "$work"  # nginx's workers read the files as www-data

netns_cleanup() {
  [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  # TERM first (nginx stops its workers); then KILL: a server started by a parent that
  # blocks SIGTERM (a test runner) inherits the block and would outlive us.
  local pids=""
  for pid in "$work"/*.pid; do [ -f "$pid" ] && pids="$pids $(cat "$pid")"; done
  if [ -n "$pids" ]; then
    kill $pids 2>/dev/null || true
    sleep 0.3
    kill -KILL $pids 2>/dev/null || true
  fi
  for ns in "$client" "$server" "$proxy" ${hops:-}; do ip netns del "$ns" 2>/dev/null || true; done
  ip link del "vc$$" 2>/dev/null || true
  ip link del "vs$$" 2>/dev/null || true
  rm -rf "$work"
}
trap netns_cleanup EXIT

# link_namespace NS DEV: NS's eth0 joined to DEV in this namespace. With IMPAIR set
# (scripts/impair.py's options, e.g. "--loss 1 --delay 2 --jitter 2 --reorder 5"), the
# link passes through impair.py in a namespace of its own (tc netem's stand-in: this
# kernel has no sch_netem), which impairs both directions.
link_namespace() {
  local ns=$1 dev=$2
  if [ -z "${IMPAIR:-}" ]; then
    ip link add "$dev" type veth peer name eth0 netns "$ns"
    return
  fi
  local hop=$ns-hop
  ip netns add "$hop"
  hops="${hops:-} $hop"
  ip link add "$dev" type veth peer name near netns "$hop"
  ip -n "$hop" link add far type veth peer name eth0 netns "$ns"
  for end in near far; do
    ip -n "$hop" link set "$end" up promisc on
    ip netns exec "$hop" ethtool -K "$end" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
  done
  ip netns exec "$hop" python3 scripts/impair.py near far $IMPAIR --seed "${IMPAIR_SEED:-$RANDOM}" \
    --pid "$work/impair-$ns.pid" --stats "$work/impair-$ns.stats" &
}

# netns_setup CLIENT_CIDR SERVER_CIDR...: the two namespaces and their links.
netns_setup() {
  local client_address=$1; shift
  ip netns add "$client"
  ip netns add "$server"
  link_namespace "$client" "vc$$"
  link_namespace "$server" "vs$$"
  ip -n "$client" addr add "$client_address" dev eth0
  for address in "$@"; do ip -n "$server" addr add "$address" dev eth0; done
  for ns in "$client" "$server"; do
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip netns exec "$ns" ethtool -K eth0 tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
  done
  for dev in "vc$$" "vs$$"; do
    ip link set "$dev" up
    ethtool -K "$dev" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
  done
}

# start_backends ROOT ADDRESS...: one nginx per address (port 80) serving ROOT, each
# logging to $work/backendLAST_OCTET.log, pid in $work/nginxLAST_OCTET.pid.
start_backends() {
  local root=$1; shift
  for address in "$@"; do
    local id=${address##*.}
    cat > "$work/nginx$id.conf" <<CONF
worker_processes 1;
pid $work/nginx$id.pid;
error_log $work/nginx-error$id.log;
events { worker_connections 4096; }
http {
  access_log $work/backend$id.log;
  keepalive_requests 1000000;
  server { listen $address:80 backlog=4096; root $root; }
}
CONF
    ip netns exec "$server" ${BACKEND_PREFIX:-} nginx -c "$work/nginx$id.conf"
  done
}

# start_agent AGENT ARGS...: the agent inline between the two links (DPDK net_af_packet),
# stderr in $work/agent.log; returns once it runs.
start_agent() {
  local agent=$1; shift
  local ring="framecnt=8192,blocksz=4096,framesz=2048"
  ${AGENT_PREFIX:-} "$agent" run --dpdk "--no-huge -m 512 --no-pci --no-shconf --no-telemetry ${AGENT_LCORES:---lcores=0@(0-1)} --vdev=net_af_packet0,iface=vc$$,$ring --vdev=net_af_packet1,iface=vs$$,$ring" \
    --port net_af_packet0 --out-port net_af_packet1 "$@" > "${AGENT_STDOUT:-/dev/null}" 2> "$work/agent.log" &
  agent_pid=$!
  for _ in $(seq 1 100); do grep -q "SIGTERM stops" "$work/agent.log" 2>/dev/null && break; sleep 0.1; done
}

stop_agent() {
  kill -TERM "$agent_pid" 2>/dev/null || echo "the agent had already exited: $(grep -v EAL "$work/agent.log" | tail -3)"; wait "$agent_pid" || true; agent_pid=""
}

# impairment_report: stops impair.py on every link and prints what it did.
impairment_report() {
  local pids=""
  for pid in "$work"/impair-*.pid; do [ -f "$pid" ] && pids="$pids $(cat "$pid")"; done
  [ -n "$pids" ] || return 0
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 1 50); do
    local alive=0
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for stats in "$work"/impair-*.stats; do
    [ -f "$stats" ] && echo "impairment ${stats##*/impair-}: $(cat "$stats")"
  done
  rm -f "$work"/impair-*.pid
}
