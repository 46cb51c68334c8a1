#!/usr/bin/env bash
# scripts/fuzz.sh - builds the libFuzzer targets with Debian's clang and runs each for a while.
#
#   scripts/fuzz.sh [SECONDS]      default 45 per target (5 targets: under 4 minutes of runs)
#
# Each run first replays every input of tests/fuzz/corpus/<target>/ (the committed seeds and
# the regression inputs), then mutates. A crash, a sanitizer report, a leak or a unit slower
# than 10 s fails the script; libFuzzer leaves the input as crash-*/leak-*/timeout-* in the
# build directory: add it to tests/fuzz/corpus/<target>/ (every later run replays it) before
# fixing the bug.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-45}"
out="${SSE_FUZZ_DIR:-build-fuzz}"
mkdir -p "$out"

# clang++ and its sanitizer/libFuzzer runtimes (not needed by the rest of the build).
if ! command -v clang++ >/dev/null 2>&1 || ! dpkg-query -W -f='${Status}' libclang-rt-14-dev 2>/dev/null | grep -q "install ok installed"; then
    SSE_EXTRA_APT_PACKAGES="${SSE_EXTRA_APT_PACKAGES:-} clang:clang++ libclang-rt-14-dev" ./scripts/setup.sh
fi

# The targets, each tests/fuzz/fuzz_<name>.cpp with its seeds and regressions in
# tests/fuzz/corpus/<name>/ (README.md, "Fuzzing", says what each one checks).
targets=(demo_http encoder handshake redis_message replay)

# demo_http includes the sports demo's sources, and their page embedded as a header: generated
# here by the same CMake script the demo's build uses.
generated="$out/generated"
mkdir -p "$generated"
static_files="examples/sports/static/index.html;examples/sports/static/app.css;examples/sports/static/app.js"
if [[ ! -f "$generated/static_assets.hpp" ]] ||
   find examples/sports/static examples/sports/embed_static.cmake -newer "$generated/static_assets.hpp" | grep -q .; then
    cmake "-DOUT=$generated/static_assets.hpp" "-DFILES=$static_files" -P examples/sports/embed_static.cmake
fi

flags=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Iinclude -Itests -Iexamples/sports "-I$generated")
t0=$(date +%s)
# Two builds at a time (2 cores), the slowest (demo_http) first; any failed build fails the
# script.
running=0
build_failed=0
for target in "${targets[@]}"; do
    bin="$out/fuzz_$target"
    if [[ ! -x "$bin" || "tests/fuzz/fuzz_$target.cpp" -nt "$bin" ]] ||
       find include tests/support examples/sports -newer "$bin" -name '*.hpp' | grep -q .; then
        echo "fuzz: building $target"
        clang++ "${flags[@]}" "tests/fuzz/fuzz_$target.cpp" -o "$bin" -lssl -lcrypto -lpthread &
        running=$((running + 1))
        if ((running == 2)); then
            wait -n || build_failed=1
            running=$((running - 1))
        fi
    fi
done
while ((running > 0)); do
    wait -n || build_failed=1
    running=$((running - 1))
done
if ((build_failed)); then echo "fuzz: a fuzz target failed to build" >&2; exit 1; fi
echo "fuzz: targets ready ($(($(date +%s) - t0)) s)"

# Each target is one libFuzzer process (one core): they run side by side, as many at a time
# as there are cores, each with its own log and exit status.
run_one() {
    local target="$1" rc=0
    mkdir -p "$out/corpus_$target"
    (cd "$out" && "./fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "corpus_$target" "../tests/fuzz/corpus/$target") \
        >"$out/fuzz_$target.log" 2>&1 || rc=$?
    echo "$rc" >"$out/fuzz_$target.rc"
}
parallel=$(nproc)
running=0
for target in "${targets[@]}"; do
    echo "fuzz: running $target for ${seconds}s"
    run_one "$target" &
    running=$((running + 1))
    if ((running >= parallel)); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

status=0
for target in "${targets[@]}"; do
    log="$out/fuzz_$target.log"
    rc=$(cat "$out/fuzz_$target.rc" 2>/dev/null || echo 1)
    if ((rc != 0)); then
        # The report (stack, the input's file name) is at the end of the log.
        tail -n 60 "$log"
        echo "fuzz: $target FAILED (exit $rc); the input is the crash-*/leak-*/timeout-* file named above, in $out/; full log $log" >&2
        status=1
    else
        echo "fuzz: $target"
        grep -E '^(Done|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' "$log" || true
    fi
done
if ((status == 0)); then echo "fuzz: no crash"; fi
exit "$status"
