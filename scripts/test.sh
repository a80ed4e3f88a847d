#!/usr/bin/env bash
# Sets up and runs the whole test suite. The tests call the built commands, so build first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build
# The connection-flood and replica-failover suites load the machine (19,500 connections;
# three controllers under an alert flood) and wait for things by the clock: they run on
# their own, after the rest.
heavy="HardeningTests|ReplicaTests"
swift test --skip "$heavy"
swift test --skip-build --filter "$heavy"
# The control-plane suites again with the controller on PostgreSQL (a throw-away cluster
# per test; the store suite and the database-restart test use it in the first run too).
MBOX_TEST_STORE=postgres swift test --skip-build \
  --filter "PlacementTests|MetricsTests|AlertQueryTests|HotSwapTests|FleetTests|SecurityTests|OperationsTests|OperatorCLITests|FaultTests"
