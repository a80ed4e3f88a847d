#!/usr/bin/env bash
# Sets up and runs the whole test suite. The tests call the built commands, so build first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build
swift test
