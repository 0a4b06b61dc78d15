#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need that
# cargo does not (a headless Chromium and its driver for the web interface
# tests, Debian's packages; the OpenAPI validator, from PyPI), then runs
# `cargo test --workspace` with any arguments given. With those installed,
# `cargo test --workspace` alone is the same.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "error: installing the web tests' browser needs root: run as root, or: apt-get install -y chromium chromium-driver" >&2
        exit 1
    fi
}

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "== installing chromium and chromium-driver (web interface tests)"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if ! python3 -c 'import openapi_spec_validator' >/dev/null 2>&1; then
    echo "== installing openapi-spec-validator (the API description's test)"
    python3 -m pip install --quiet --user openapi-spec-validator 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages --user openapi-spec-validator
fi

# Built first and the disk flushed, so that the build's writes do not land
# on the fsyncs of the tests that time durable bookings.
cargo test --workspace --no-run
sync
cargo test --workspace "$@"
