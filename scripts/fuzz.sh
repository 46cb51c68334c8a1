#!/usr/bin/env bash
# scripts/fuzz.sh - builds the libFuzzer targets with Debian's clang and runs each for a while.
#
#   scripts/fuzz.sh [SECONDS]      default 60 per target
#
# Each run first replays every input of tests/fuzz/corpus/<target>/ (the committed seeds and
# the regression inputs), then mutates. A crash, a sanitizer report, a leak or a unit slower
# than 10 s fails the script; libFuzzer leaves the input as crash-*/leak-*/timeout-* in the
# build directory: add it to tests/fuzz/corpus/<target>/ (every later run replays it) before
# fixing the bug.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-60}"
out="${SSE_FUZZ_DIR:-build-fuzz}"
mkdir -p "$out"

# clang++ and its sanitizer/libFuzzer runtimes (not needed by the rest of the build).
if ! command -v clang++ >/dev/null 2>&1 || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "install ok installed"; then
    SSE_EXTRA_APT_PACKAGES="${SSE_EXTRA_APT_PACKAGES:-} clang:clang++ libclang-rt-14-dev" ./scripts/setup.sh
fi

flags=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Iinclude -Itests)
t0=$(date +%s)
pids=()
for target in encoder handshake; do
    bin="$out/fuzz_$target"
    if [[ ! -x "$bin" || "tests/fuzz/fuzz_$target.cpp" -nt "$bin" ]] ||
       find include tests/support -newer "$bin" -name '*.hpp' | grep -q .; then
        echo "fuzz: building $target"
        clang++ "${flags[@]}" "tests/fuzz/fuzz_$target.cpp" -o "$bin" -lssl -lcrypto -lpthread &
        pids+=($!)
    fi
done
# The two targets build in parallel; any failed build fails the script.
for pid in "${pids[@]}"; do
    wait "$pid" || { echo "fuzz: a fuzz target failed to build" >&2; exit 1; }
done
echo "fuzz: targets ready ($(($(date +%s) - t0)) s)"

status=0
for target in encoder handshake; do
    corpus="$out/corpus_$target"
    log="$out/fuzz_$target.log"
    mkdir -p "$corpus"
    echo "fuzz: running $target for ${seconds}s"
    rc=0
    (cd "$out" && "./fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "corpus_$target" "../tests/fuzz/corpus/$target") >"$log" 2>&1 || rc=$?
    if ((rc != 0)); then
        # The report (stack, the input's file name) is at the end of the log.
        tail -n 60 "$log"
        echo "fuzz: $target FAILED (exit $rc); the input is the crash-*/leak-*/timeout-* file named above, in $out/; full log $log" >&2
        status=1
    else
        grep -E '^(Done|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' "$log" || true
    fi
done
if ((status == 0)); then echo "fuzz: no crash"; fi
exit "$status"
