#!/usr/bin/env bash
# scripts/demo.sh - sets up a fresh Debian 12 machine, builds the demo and runs it.
#
#   scripts/demo.sh [args...]    extra arguments go to the demo program
#
# The demo is examples/sports (sports_demo --simulate) when it exists, otherwise the
# minimal examples/hello server. CMake names the one it built in <build>/sse-demo.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/setup.sh

build_dir="${SSE_BUILD_DIR:-build}"
read -r -a extra_cmake_args <<<"${SSE_CMAKE_ARGS:-}"

# Same configuration as scripts/test.sh, so both share one build directory.
cmake -S . -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g" \
    "${extra_cmake_args[@]}"

manifest="$build_dir/sse-demo.txt"
if [[ ! -f "$manifest" ]]; then
    echo "demo.sh: no demo in this checkout yet (neither sports_demo nor hello_server)" >&2
    exit 1
fi
{ read -r target; read -r binary; read -r default_args || true; } <"$manifest"
read -r -a default_args <<<"$default_args"

cmake --build "$build_dir" --parallel "$(nproc)" --target "$target"

echo "demo.sh: running $binary ${default_args[*]} $*"
exec "$binary" "${default_args[@]}" "$@"
