#!/usr/bin/env bash
# Sets up and runs the whole test suite. The tests call the built commands, so build first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build
swift test
# The control-plane suites again with the controller on PostgreSQL (a throw-away cluster
# per test; the store suite and the database-restart test use it in the first run too).
MBOX_TEST_STORE=postgres swift test --skip-build \
  --filter "PlacementTests|MetricsTests|AlertQueryTests|HotSwapTests|FleetTests|SecurityTests|OperationsTests|OperatorCLITests|FaultTests"
