#!/usr/bin/env bash
# scripts/fuzz.sh - builds the libFuzzer targets with Debian's clang and runs each for a while.
#
#   scripts/fuzz.sh [SECONDS]      default 60 per target
#
# A crash fails the run; libFuzzer leaves the input as crash-* in the build directory: add it
# to tests/fuzz/corpus/<target>/ and as a regression test before fixing the bug.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-60}"
out="${SSE_FUZZ_DIR:-build-fuzz}"
mkdir -p "$out"

flags=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -Iinclude -Itests)
for target in encoder handshake; do
    bin="$out/fuzz_$target"
    if [[ ! -x "$bin" || "tests/fuzz/fuzz_$target.cpp" -nt "$bin" ]] ||
       find include -newer "$bin" -name '*.hpp' | grep -q .; then
        echo "fuzz: building $target"
        clang++ "${flags[@]}" "tests/fuzz/fuzz_$target.cpp" -o "$bin" -lssl -lcrypto -lpthread
    fi
done

for target in encoder handshake; do
    corpus="$out/corpus_$target"
    mkdir -p "$corpus"
    echo "fuzz: running $target for ${seconds}s"
    (cd "$out" && "./fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "corpus_$target" "../tests/fuzz/corpus/$target" 2>&1 | tail -n 12)
    # libFuzzer exits non-zero on a crash; with pipefail the pipeline above fails the script.
done
echo "fuzz: no crash"
