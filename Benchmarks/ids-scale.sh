#!/usr/bin/env bash
# The IDS at scale, side by side with Suricata 7 (--runmode single): the same generated
# rule set (Benchmarks/generate-rules.py) on the same generated capture. For each:
#   load   — wall time of a run over the capture's first packet (start, load the rules, stop);
#   memory — peak RSS of the full run;
#   rate   — packets / processing time, as each tool reports it (the agent's summary
#            "time", Suricata's "time elapsed"), load excluded.
# Medians of RUNS interleaved runs.
#   bash Benchmarks/ids-scale.sh [RULES=25000] [RUNS=3] [FLOWS=20000]
set -euo pipefail
RULES=${1:-25000}; RUNS=${2:-3}; FLOWS=${3:-20000}
cd "$(dirname "$0")/.."
swift build -c release --product mbox-agent >/dev/null
swift build -c release --product mbox-trafficgen >/dev/null
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 Benchmarks/generate-rules.py --rules "$RULES" > "$dir/generated.rules"
.build/release/mbox-trafficgen -o "$dir/traffic.pcap" --flows "$FLOWS" --seed 5 --concurrency 64 \
  --attack "UNION SELECT" --attack-share 0.05 >"$dir/gen.txt" 2>&1
packets=$(sed -n 's/.*: \([0-9]*\) packets.*/\1/p' "$dir/gen.txt")
editcap -r "$dir/traffic.pcap" "$dir/first.pcap" 1
echo "rules: $RULES generated; capture: $packets packets ($(cat "$dir/gen.txt" | sed 's/^wrote [^:]*: //'))"

# time_of CMD... -> "seconds peak_kb"; the command's stderr is kept in $dir/stderr
time_of() { /usr/bin/time -f "%e %M" -o "$dir/time" "$@" >/dev/null 2>"$dir/stderr" || { echo "failed: $*" >&2; exit 1; }; cat "$dir/time"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

: > "$dir/agent_load"; : > "$dir/agent_run"; : > "$dir/agent_mem"; : > "$dir/agent_proc"
: > "$dir/suri_load"; : > "$dir/suri_run"; : > "$dir/suri_mem"; : > "$dir/suri_proc"
for run in $(seq "$RUNS"); do
  read -r seconds kb < <(time_of .build/release/mbox-agent replay --pcap "$dir/first.pcap" --rules "$dir/generated.rules")
  echo "$seconds" >> "$dir/agent_load"
  read -r seconds kb < <(time_of .build/release/mbox-agent replay --pcap "$dir/traffic.pcap" --rules "$dir/generated.rules" \
    --eve "$dir/agent-eve.json")
  echo "$seconds" >> "$dir/agent_run"; echo "$kb" >> "$dir/agent_mem"
  sed -n 's/^time *\([0-9.]*\) s.*/\1/p' "$dir/stderr" >> "$dir/agent_proc"
  rm -rf "$dir/s" "$dir/s1"; mkdir -p "$dir/s" "$dir/s1"
  read -r seconds kb < <(time_of suricata --runmode single -r "$dir/first.pcap" -S "$dir/generated.rules" -l "$dir/s1" -k none)
  echo "$seconds" >> "$dir/suri_load"
  read -r seconds kb < <(time_of suricata --runmode single -r "$dir/traffic.pcap" -S "$dir/generated.rules" -l "$dir/s" -k none)
  echo "$seconds" >> "$dir/suri_run"; echo "$kb" >> "$dir/suri_mem"
  sed -n 's/.*time elapsed \([0-9.]*\)s.*/\1/p' "$dir/s/suricata.log" >> "$dir/suri_proc"
  echo "round $run: agent load $(tail -1 "$dir/agent_load") s, processing $(tail -1 "$dir/agent_proc") s;" \
    "suricata load $(tail -1 "$dir/suri_load") s, processing $(tail -1 "$dir/suri_proc") s"
done
al=$(median < "$dir/agent_load"); ar=$(median < "$dir/agent_proc"); am=$(median < "$dir/agent_mem")
sl=$(median < "$dir/suri_load"); sr=$(median < "$dir/suri_proc"); sm=$(median < "$dir/suri_mem")
loaded=$(.build/release/mbox-agent rules "$dir/generated.rules" | head -1)
suri_loaded=$(grep -o "[0-9]* rules successfully loaded, [0-9]* rules failed" "$dir/s/suricata.log" | tail -1)
echo "agent: $loaded; suricata: $suri_loaded"
echo "agent alerts: $(wc -l < "$dir/agent-eve.json"); suricata alerts: $(grep -c '"event_type":"alert"' "$dir/s/eve.json" || true)"
awk -v p="$packets" -v al="$al" -v ar="$ar" -v am="$am" -v sl="$sl" -v sr="$sr" -v sm="$sm" 'BEGIN {
  ap = p / ar; sp = p / sr
  printf "\n| %-38s | %10s | %10s | %8s |\n", "", "mbox-agent", "Suricata 7", "ratio"
  printf "|%s|%s|%s|%s|\n", "----------------------------------------", "-----------:", "-----------:", "---------:"
  printf "| %-38s | %10.2f | %10.2f | %7.1fx |\n", "rule load, s", al, sl, sl / al
  printf "| %-38s | %10.0f | %10.0f | %7.2fx |\n", "peak memory, MiB", am / 1024, sm / 1024, am / sm
  printf "| %-38s | %10.0f | %10.0f | %7.1fx |\n", "packets/s, processing (k)", ap / 1000, sp / 1000, ap / sp
}'
