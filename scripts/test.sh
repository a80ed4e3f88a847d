#!/usr/bin/env bash
# Sets up and runs the whole test suite. The tests call the built commands, so build first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build
# The control-plane suites run controllers inside the test process, which answer on the
# same few threads as every test: they run apart from the data-plane suites (whose
# CPU-bound tests starved them past their deadlines), and the connection-flood and
# replica-failover suites (19,500 connections; three controllers under an alert flood)
# on their own.
heavy="HardeningTests|ReplicaTests|ConsoleTests"  # each run alone, after the rest (floods, replicas, a browser)
swift test --skip ControlPlaneTests
swift test --skip-build --filter ControlPlaneTests --skip "$heavy"
swift test --skip-build --filter HardeningTests
swift test --skip-build --filter ReplicaTests
swift test --skip-build --filter ConsoleTests
# The control-plane suites again with the controller on PostgreSQL (a throw-away cluster
# per test; the store suite and the database-restart test use it in the first run too).
MBOX_TEST_STORE=postgres swift test --skip-build \
  --filter "PlacementTests|MetricsTests|AlertQueryTests|HotSwapTests|FleetTests|SecurityTests|OperationsTests|OperatorCLITests|FaultTests|HistoryTests"
MBOX_TEST_STORE=postgres swift test --skip-build --filter ConsoleTests
