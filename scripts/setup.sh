#!/usr/bin/env bash
# scripts/setup.sh - installs everything sse needs to build, test and demo on Debian 12.
#
# Idempotent: when every package is already installed it does nothing (no apt-get update),
# so test.sh and demo.sh can call it on every run. Needs root; uses sudo when not root.
set -euo pipefail

# ---------------------------------------------------------------------------------------
# APT PACKAGES. Add what your part needs here, one per line, with a short reason.
# "package:command" counts as present when `command` is on PATH, whoever installed it
# (e.g. nodejs from NodeSource, which also carries npm: apt's npm would conflict with it).
# ---------------------------------------------------------------------------------------
SSE_APT_PACKAGES=(
    build-essential      # g++, make
    cmake                # >= 3.25 (Debian 12 ships 3.25.1)
    ninja-build
    pkg-config           # finds hiredis 0.14 (it has no CMake package)
    libboost1.81-dev     # Boost.Beast/Asio >= 1.81; Debian's default libboost-dev is 1.74
    libhiredis-dev       # sse::redis
    nlohmann-json3-dev
    catch2               # v2.13 on Debian 12; v3 also works
    libssl-dev           # TLS tests and examples
    redis-server         # tests/redis starts its own server and cluster (redis-cli comes with it)
    libbenchmark-dev     # bench/micro_fanout (skipped without it)
    nodejs:node          # tests/demo and tests/browser (node's own test runner)
    npm:npm              # tests/browser: playwright-core from the committed lock file
    chromium:chromium    # tests/browser drives Debian's chromium (no browser download)
    python3-prometheus-client # tests/demo/metrics_parse.py: /metrics through the real parser
    curl:curl            # tests/examples read each example's stream with curl -N
    nginx                # tests/browser/h2_front: the README's HTTP/2 front (deploy/nginx)
    openssl:openssl      # certificates made at test time (TLS example, the nginx front)
)
# Extra packages for one run, e.g. SSE_EXTRA_APT_PACKAGES="clang-14 gdb" scripts/setup.sh
if [[ -n "${SSE_EXTRA_APT_PACKAGES:-}" ]]; then
    read -r -a _extra <<<"${SSE_EXTRA_APT_PACKAGES}"
    SSE_APT_PACKAGES+=("${_extra[@]}")
fi
# ---------------------------------------------------------------------------------------

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "setup.sh: need root (or sudo) to run: $*" >&2
        exit 1
    fi
}

missing=()
for entry in "${SSE_APT_PACKAGES[@]}"; do
    pkg="${entry%%:*}"
    cmd=""
    [[ "$entry" == *:* ]] && cmd="${entry#*:}"
    if [[ -n "$cmd" ]] && command -v "$cmd" >/dev/null 2>&1; then
        continue
    fi
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]})); then
    echo "setup.sh: installing ${missing[*]}"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
else
    echo "setup.sh: all ${#SSE_APT_PACKAGES[@]} packages already installed"
fi

# ---------------------------------------------------------------------------------------
# EXTRA STEPS (npm packages, browsers, ...): drop a bash script into
# scripts/setup.d/NAME.sh; each is sourced here, after the apt packages are in place, and
# must be idempotent and quick when there is nothing to do.
# ---------------------------------------------------------------------------------------
_setup_d="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup.d"
if [[ -d "$_setup_d" ]]; then
    for step in "$_setup_d"/*.sh; do
        [[ -e "$step" ]] || continue
        echo "setup.sh: running ${step#"$_setup_d"/}"
        # shellcheck source=/dev/null
        source "$step"
    done
fi
