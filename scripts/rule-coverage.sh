#!/usr/bin/env bash
# Prints how many rules of a Suricata rules file the agent loads, and the refused ones by
# the keyword to blame: bash scripts/rule-coverage.sh RULES [--list]
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 RULES [--list]" >&2; exit 2; }
rules=$(realpath "$1"); shift
cd "$(dirname "$0")/.."
swift build -c release --product mbox-agent >/dev/null
exec .build/release/mbox-agent rules "$rules" "$@"
