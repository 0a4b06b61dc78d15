#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need that
# cargo does not (a headless Chromium and its driver for the web interface
# tests, Debian's packages; the OpenAPI validator, from PyPI; axe-core, from
# the npm registry, for the accessibility test), then runs
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

# axe-core, the accessibility checker the browser tests inject into every
# page (from the npm registry, checked against its published digest).
AXE_VERSION=4.14.1
axe="${CARGO_TARGET_DIR:-target}/test-deps/axe-$AXE_VERSION.min.js"
if [ ! -s "$axe" ]; then
    echo "== fetching axe-core $AXE_VERSION (accessibility test)"
    python3 - "$AXE_VERSION" "$axe" <<'PY'
import base64, hashlib, io, json, os, sys, tarfile, urllib.request
version, out = sys.argv[1], sys.argv[2]
meta = json.load(urllib.request.urlopen(f"https://registry.npmjs.org/axe-core/{version}", timeout=60))
data = urllib.request.urlopen(meta["dist"]["tarball"], timeout=120).read()
algo, digest = meta["dist"]["integrity"].split("-", 1)
if base64.b64encode(hashlib.new(algo, data).digest()).decode() != digest:
    sys.exit("axe-core: the tarball does not match its published digest")
with tarfile.open(fileobj=io.BytesIO(data)) as tar:
    script = tar.extractfile("package/axe.min.js").read()
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out + ".tmp", "wb") as f:
    f.write(script)
os.replace(out + ".tmp", out)
PY
fi
export ENTRAIDE_AXE="$PWD/$axe"
case "$axe" in /*) export ENTRAIDE_AXE="$axe" ;; esac

# Built first and the disk flushed, so that the build's writes do not land
# on the fsyncs of the tests that time durable bookings.
cargo test --workspace --no-run
sync
cargo test --workspace "$@"
