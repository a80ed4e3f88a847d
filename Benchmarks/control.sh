#!/usr/bin/env bash
# The control plane's benchmark on both stores, in one run: SQLite, PostgreSQL with one
# controller, PostgreSQL with three replicas (a throw-away cluster on a Unix socket).
#   bash Benchmarks/control.sh [AGENTS=1000] [ROUNDS=3] [ALERTS=200000] [COMPILING=100]
set -euo pipefail
cd "$(dirname "$0")/.."
agents=${1:-1000} rounds=${2:-3} alerts=${3:-200000} compiling=${4:-100}
swift build -c release --product mbox-bench-control >/dev/null
bench=.build/release/mbox-bench-control
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d /tmp/mbox-bench-pg.XXXXXX)
port=$((20000 + RANDOM % 20000))
as_pg() { if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$dir"; runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$bin/initdb" -D "$dir/data" -U mbox --auth=trust -E UTF8 >/dev/null
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-k $dir -p $port -c listen_addresses='' -c max_connections=200" start >/dev/null
trap 'as_pg "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
url="postgres://mbox@localhost/postgres?host=$dir&port=$port"
export MBOX_LOG_LEVEL=warning
common=(--agents "$agents" --rounds "$rounds" --alerts "$alerts" --compiling-agents "$compiling")
echo "== SQLite, one controller"
"$bench" "${common[@]}" | grep -v "^round"
echo "== PostgreSQL (fsync on), one controller"
"$bench" "${common[@]}" --store "$url" | grep -v "^round"
as_pg "$bin/psql" -h "$dir" -p "$port" -U mbox -d postgres -qc "DROP SCHEMA public CASCADE; CREATE SCHEMA public;" >/dev/null 2>&1
echo "== PostgreSQL (fsync on), three replicas, agents spread across them"
"$bench" "${common[@]}" --store "$url" --replicas 3 --ingest-agents 6 | grep -v "^round"
