#!/usr/bin/env bash
# scripts/test.sh - the one command that sets up a fresh Debian 12 machine, builds sse and
# runs every test. .ci/run runs exactly this.
#
#   scripts/test.sh                   everything
#   scripts/test.sh unit integration  only these ctest labels (unit integration redis consumers browser demo)
#   scripts/test.sh -R encoder -V     other arguments go to ctest as they are
#
# Environment: SSE_BUILD_DIR (default build), SSE_CMAKE_ARGS (extra configure arguments,
# e.g. "-DSSE_SANITIZE=address,undefined").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/setup.sh

build_dir="${SSE_BUILD_DIR:-build}"
read -r -a extra_cmake_args <<<"${SSE_CMAKE_ARGS:-}"

# RelWithDebInfo without -DNDEBUG: optimised like a deployment, but assertions stay on.
# (scripts/demo.sh configures the same way, so the two share one build directory.)
cmake -S . -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g" \
    "${extra_cmake_args[@]}"
cmake --build "$build_dir" --parallel "$(nproc)"

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

ctest --test-dir "$build_dir" --output-on-failure -j2 "${ctest_args[@]}"
