#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer and AddressSanitizer.
#   bash scripts/fuzz.sh [TARGET|all] [SECONDS]      (default: all, 60 s each)
#   bash scripts/fuzz.sh all ci                      CI's run: a fixed seed and a fixed number
#                                                    of executions per target (about 30 s each),
#                                                    so a run's outcome does not depend on luck
#   FUZZ_MERGE=1 bash scripts/fuzz.sh …  also merges what the run found that adds coverage
#                                        into Fuzz/corpus/TARGET (to commit)
# Builds mbox-fuzz instrumented (release, ASan, libFuzzer coverage) in .build-fuzz, then runs
# each target for SECONDS from its seed corpus in Fuzz/corpus/TARGET. New inputs go to a
# scratch corpus, not the repository; a crash leaves crash-* in fuzz-findings/ and fails.
# Prints per target: executions, coverage (edges) and features, as libFuzzer reports them.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-all}"
seconds="${2:-60}"
targets=(capture packet-path rules chain app-layer tcp-endpoint agent)
[ "$target" = all ] || targets=("$target")

fuzzer_lib=$(ls /opt/swift/usr/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1 || true)
if [ -z "$fuzzer_lib" ]; then
    fuzzer_lib=$(find "$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")" -name 'libclang_rt.fuzzer_no_main-x86_64.a' | head -1)
fi
[ -n "$fuzzer_lib" ] || { echo "fuzz.sh: libFuzzer (libclang_rt.fuzzer_no_main) not found in the Swift toolchain" >&2; exit 1; }

# -sanitize=fuzzer is given to the frontend only: the driver would also link libFuzzer's
# main(), which clashes with SwiftPM's entry point; mbox-fuzz calls LLVMFuzzerRunDriver.
swift build -c release --product mbox-fuzz --build-path .build-fuzz \
    -Xswiftc -sanitize=address -Xswiftc -Xfrontend -Xswiftc -sanitize=fuzzer -Xswiftc -DMBOX_LIBFUZZER \
    -Xlinker "$fuzzer_lib" -Xlinker -lstdc++ 2>&1 | grep -Ev "Cannot export local symbol|^\[" || true
binary=.build-fuzz/release/mbox-fuzz
[ -x "$binary" ] || { echo "fuzz.sh: the instrumented build failed" >&2; exit 1; }

mkdir -p fuzz-findings
status=0
printf '%-12s %12s %10s %10s %8s\n' target executions "exec/s" coverage crashes
for name in "${targets[@]}"; do
    scratch=$(mktemp -d)
    log="fuzz-findings/$name.log"
    set +e
    if [ "$seconds" = ci ]; then
        case "$name" in
            capture) bound="-runs=3000000" ;;
            packet-path) bound="-runs=300000" ;;
            rules) bound="-runs=120000" ;;
            chain) bound="-runs=80000" ;;
            tcp-endpoint) bound="-runs=200000" ;;
            agent) bound="-runs=8000" ;;
            *) bound="-runs=300000" ;;
        esac
        bound="$bound -seed=1"
    else
        bound="-max_total_time=$seconds"
    fi
    # shellcheck disable=SC2086
    "$binary" "$name" "$scratch" "Fuzz/corpus/$name" $bound -rss_limit_mb=2048 -max_len=65536 \
        -timeout=10 -artifact_prefix="fuzz-findings/$name-" -print_final_stats=1 >"$log" 2>&1
    code=$?
    set -e
    runs=$( (grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" || echo 0) | grep -o '[0-9]*$')
    speed=$( (grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" || echo 0) | grep -o '[0-9]*$')
    coverage=$( (grep -o 'cov: [0-9]*' "$log" || echo 0) | tail -1 | grep -o '[0-9]*$')
    crashes=$( (ls fuzz-findings/"$name"-crash-* fuzz-findings/"$name"-leak-* fuzz-findings/"$name"-timeout-* 2>/dev/null || true) | wc -l)
    printf '%-12s %12s %10s %10s %8s\n' "$name" "$runs" "$speed" "$coverage" "$crashes"
    if [ "$code" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        status=1
        echo "--- $name failed (exit $code); the end of $log:" >&2
        tail -40 "$log" >&2
    fi
    if [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$code" -eq 0 ]; then
        "$binary" "$name" -merge=1 "Fuzz/corpus/$name" "$scratch" >>"$log" 2>&1
    fi
    rm -rf "$scratch"
done
exit $status
