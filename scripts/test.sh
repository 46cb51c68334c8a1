#!/usr/bin/env bash
# scripts/test.sh - the one command that sets up a fresh Debian 12 machine, builds sse and
# runs every test. .ci/run runs exactly this.
#
#   scripts/test.sh                   everything: the stages below, in this order
#   scripts/test.sh unit integration  only these ctest labels, plain stage only
#   scripts/test.sh -R encoder -V     other arguments go to ctest as they are (plain stage only)
#   SSE_QUICK=1 scripts/test.sh       plain stage only (skips sanitizers and fuzzing)
#
# Stages:
#   plain  build/ (RelWithDebInfo -O2, assertions on), every ctest label
#   asan   scripts/sanitize.sh asan: the C++ suites under ASan+UBSan (build-asan/)
#   tsan   scripts/sanitize.sh tsan: the C++ suites under TSan (build-tsan/)
#   fuzz   scripts/fuzz.sh: each libFuzzer target for SSE_FUZZ_SECONDS (45), corpus replayed first
# A failing stage does not stop the later ones (a failed build does); the exit status is
# non-zero when any stage failed, and the last lines say which.
#
# Environment: SSE_BUILD_DIR (default build), SSE_CMAKE_ARGS (extra configure arguments for
# every build), SSE_TEST_STAGES (default "plain asan tsan fuzz"), SSE_QUICK=1 (= "plain"),
# SSE_FUZZ_SECONDS (default 45).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Bare words are labels; anything else is passed to ctest unchanged.
labels=()
ctest_args=()
for arg in "$@"; do
    if [[ "$arg" =~ ^[A-Za-z_]+$ && ${#ctest_args[@]} -eq 0 ]]; then
        labels+=("$arg")
    else
        ctest_args+=("$arg")
    fi
done
if ((${#labels[@]})); then
    label_regex="^($(IFS='|'; echo "${labels[*]}"))$"
    ctest_args=(-L "$label_regex" "${ctest_args[@]}")
fi

# A run narrowed by arguments is a local check: plain stage only, unless stages are named.
default_stages="plain asan tsan fuzz"
if [[ "${SSE_QUICK:-0}" != 0 || $# -gt 0 ]]; then
    default_stages="plain"
fi
read -r -a stages <<<"${SSE_TEST_STAGES:-$default_stages}"
for s in "${stages[@]}"; do
    [[ "$s" =~ ^(plain|asan|tsan|fuzz)$ ]] || {
        echo "test.sh: unknown stage '$s' in SSE_TEST_STAGES (plain asan tsan fuzz)" >&2
        exit 2
    }
done
wants() { [[ " ${stages[*]} " == *" $1 "* ]]; }

# The fuzz stage needs clang; installing it here saves fuzz.sh a second apt-get update.
if wants fuzz; then
    export SSE_EXTRA_APT_PACKAGES="${SSE_EXTRA_APT_PACKAGES:-} clang:clang++ libclang-rt-14-dev"
fi
./scripts/setup.sh

# CPU seconds (user + sys) used so far by this script's finished children: on a shared
# machine the wall time says little, the CPU time says what an idle one would need.
# `times` runs here, not in a subshell (a subshell would count its own children only).
cpu_file=$(mktemp)
trap 'rm -f "$cpu_file"' EXIT
cpu_seconds() {
    times >"$cpu_file"
    cpu=$(awk 'NR == 2 { s = 0; for (i = 1; i <= 2; ++i) { split($i, p, /[ms]/); s += p[1] * 60 + p[2] } printf "%d", s }' "$cpu_file")
}

failed=()
timings=()
run_stage() {
    local name="$1" t0 c0 rc=0
    shift
    t0=$(date +%s)
    cpu_seconds
    c0=$cpu
    echo "== test.sh: stage $name"
    "$@" || rc=$?
    cpu_seconds
    timings+=("$name $(($(date +%s) - t0)) s (CPU $((cpu - c0)) s)")
    if ((rc != 0)); then
        failed+=("$name")
        echo "== test.sh: stage $name FAILED (exit $rc)" >&2
    fi
}

plain_stage() {
    local build_dir="${SSE_BUILD_DIR:-build}" t0
    local extra_cmake_args=()
    read -r -a extra_cmake_args <<<"${SSE_CMAKE_ARGS:-}"
    # RelWithDebInfo without -DNDEBUG: optimised like a deployment, but assertions stay on.
    # (scripts/demo.sh configures the same way, so the two share one build directory.)
    cmake -S . -B "$build_dir" -G Ninja \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g" \
        "${extra_cmake_args[@]}"
    t0=$(date +%s)
    # A build that fails stops everything: the other stages would only fail the same way.
    cmake --build "$build_dir" --parallel "$(nproc)" || {
        echo "== test.sh: plain build FAILED" >&2
        exit 1
    }
    echo "== test.sh: plain build $(($(date +%s) - t0)) s"
    # No retries: an intermittent failure is a bug to find, not to hide.
    ctest --test-dir "$build_dir" --output-on-failure -j2 "${ctest_args[@]}"
}

wants plain && run_stage plain plain_stage
wants asan && run_stage asan ./scripts/sanitize.sh asan
wants tsan && run_stage tsan ./scripts/sanitize.sh tsan
wants fuzz && run_stage fuzz ./scripts/fuzz.sh "${SSE_FUZZ_SECONDS:-45}"

echo "== test.sh: stage times: $(IFS=,; echo "${timings[*]}"); load average $(cut -d' ' -f1-3 /proc/loadavg)"
if ((${#failed[@]})); then
    echo "== test.sh: FAILED stages: ${failed[*]}" >&2
    exit 1
fi
echo "== test.sh: all stages passed (${stages[*]})"
