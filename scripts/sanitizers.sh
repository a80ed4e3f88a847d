#!/usr/bin/env bash
# The multi-thread suites under ThreadSanitizer, and the packet path, parsers and detection
# under AddressSanitizer — each a debug build of its own (.build-tsan, .build-asan).
#   bash scripts/sanitizers.sh [thread|address|all]      (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
# Parallel NFs and their hand-off rings, pushed configs swapped under running workers, the
# alert spool's writer and compaction, faults between agent and controller, the SPSC ring
# and files written by a thread of their own (EVE, the Logger), the alert writer's rings.
thread_suites='ChainTests|HotSwapTests|SpoolTests|FaultTests|SPSCRingTests|FileSinkTests|AgentOffPathTests'
# Everything that reads packet, stream and rule bytes in process.
address_suites='ConnectionTests|SequenceRangesTests|HTTPFramingTests|DataPathTests\.DataPathTests|DefragmentationOracleTests|LinkTypeOracleTests|TunnelOracleTests|ReassemblyOracleTests|TunnelFlowKeyTests|HostileTunnelTests|ReassemblerTests|TCPMonitorTests|ParserTests|HostileInputTests|RuleEvaluationTests|AppLayerTests|DefragmentationPolicyOracleTests|EventTests|PortLoopTests'
if [ "$which" = thread ] || [ "$which" = all ]; then
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan-suppressions.txt" \
        swift test --sanitize=thread --build-path .build-tsan --filter "$thread_suites"
fi
if [ "$which" = address ] || [ "$which" = all ]; then
    ASAN_OPTIONS="detect_leaks=0 halt_on_error=1" \
        swift test --sanitize=address --build-path .build-asan --filter "$address_suites"
fi
