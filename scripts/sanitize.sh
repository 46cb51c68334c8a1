#!/usr/bin/env bash
# scripts/sanitize.sh - the test suite under sanitizers, in two build directories:
#   build-asan   -DSSE_SANITIZE=address,undefined   (ASan + UBSan + LeakSanitizer)
#   build-tsan   -DSSE_SANITIZE=thread              (TSan)
# Each is configured with Ninja (RelWithDebInfo at -O1 -g1: fast enough; line tables give
# reports file:line stacks, full -g costs ~25 % more compile time for nothing they print), builds
# only the test executables, and runs ctest on the labels unit, integration, security, redis
# and soak (those that exist). Consumers, demo and browser tests are not built or run: they
# test packaging and the browser, not memory or threads. Any sanitizer report fails its test
# (halt_on_error, exitcode); the soak runs short (SSE_SOAK_SECONDS, SSE_SOAK_CLIENTS).
#
#   scripts/sanitize.sh              both
#   scripts/sanitize.sh asan         one of them (asan | tsan)
#   scripts/sanitize.sh tsan -R soak other arguments go to ctest
#
# Environment:
#   SSE_SANITIZE_PREFIX   build directory prefix (default "build": build-asan, build-tsan)
#   SSE_SANITIZE_JOBS     parallel compile jobs (default: nproc)
#   SSE_SANITIZE_LABELS   ctest labels regex (default "^(unit|integration|security|redis|soak)$")
#   SSE_CMAKE_ARGS        extra configure arguments
#   SSE_SOAK_SECONDS      soak length under sanitizers (default 10)
#   SSE_SOAK_CLIENTS      soak concurrency under sanitizers (default 100)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

kinds=()
while (($#)) && [[ "$1" == asan || "$1" == tsan ]]; do
    kinds+=("$1")
    shift
done
((${#kinds[@]})) || kinds=(asan tsan)
ctest_extra=("$@")

prefix="${SSE_SANITIZE_PREFIX:-build}"
jobs="${SSE_SANITIZE_JOBS:-$(nproc)}"
labels="${SSE_SANITIZE_LABELS:-^(unit|integration|security|redis|soak)$}"
read -r -a extra_cmake_args <<<"${SSE_CMAKE_ARGS:-}"

export SSE_SOAK_SECONDS="${SSE_SOAK_SECONDS:-10}"
export SSE_SOAK_CLIENTS="${SSE_SOAK_CLIENTS:-100}"

# Every report is fatal and fails the test process; leaks are reported at exit (ASan).
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:exitcode=86:detect_leaks=1:detect_stack_use_after_return=1:strict_init_order=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
tsan_options="halt_on_error=1:exitcode=88:second_deadlock_stack=1:history_size=4"
if [[ -s "$root/tests/tsan.supp" ]]; then
    tsan_options+=":suppressions=$root/tests/tsan.supp"
fi
export TSAN_OPTIONS="$tsan_options${TSAN_OPTIONS:+:$TSAN_OPTIONS}"

run_kind() {
    local kind="$1" sanitize dir t0 t1 t2
    case "$kind" in
    asan) sanitize="address,undefined" ;;
    tsan) sanitize="thread" ;;
    esac
    dir="$prefix-$kind"
    t0=$(date +%s)
    echo "== $kind: configure $dir (SSE_SANITIZE=$sanitize)"
    cmake -S . -B "$dir" -G Ninja \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" \
        "-DSSE_SANITIZE=$sanitize" \
        -DSSE_BUILD_EXAMPLES=OFF -DSSE_BUILD_BENCH=OFF \
        -DSSE_BUILD_CONSUMER_TESTS=OFF -DSSE_HEADER_CHECKS=OFF \
        "${extra_cmake_args[@]}" >/dev/null

    # Only the test executables (the compile-fail tests build inside ctest and are skipped;
    # so is sse_fuzz_replay).
    local targets=()
    mapfile -t targets < <(ninja -C "$dir" -t targets all |
        sed -n -E 's/^(sse_[a-z_]+_tests|sse_soak|sse_soak_redis): (phony|CXX_EXECUTABLE_LINKER.*)$/\1/p' |
        sort -u)
    if ((${#targets[@]} == 0)); then
        echo "sanitize.sh: no test executables in $dir" >&2
        return 1
    fi
    echo "== $kind: build ${targets[*]} (-j$jobs)"
    if ! cmake --build "$dir" --parallel "$jobs" --target "${targets[@]}"; then
        echo "== $kind: BUILD FAILED in $dir" >&2
        return 1
    fi
    t1=$(date +%s)

    echo "== $kind: ctest -L '$labels' (soak: ${SSE_SOAK_SECONDS} s, ${SSE_SOAK_CLIENTS} clients)"
    local rc=0
    # fuzz_corpus_* are not built here: the fuzz stage replays the corpora under ASan+UBSan.
    # clang_public_headers_* compile the headers with clang, unsanitized: the plain stage's.
    ctest --test-dir "$dir" --output-on-failure -L "$labels" \
        -E '^(compile_fail_|fuzz_corpus_|clang_public_headers_)' \
        --timeout 1200 "${ctest_extra[@]}" || rc=$?
    t2=$(date +%s)
    echo "== $kind: build $((t1 - t0)) s, tests $((t2 - t1)) s, exit $rc"
    return "$rc"
}

status=0
for kind in "${kinds[@]}"; do
    run_kind "$kind" || status=1
done
exit "$status"
