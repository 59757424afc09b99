#!/usr/bin/env bash
# The Python package `mjpeg_rtp` (python/): build and install it as a user
# would (`pip install ./python`, maturin as the build backend) into a fresh
# venv, then run its pytest suite against real loopback senders.
#
# MJPEG_RTP_PYTHONS: interpreters to test with, one venv each (default
# python3); the wheel is abi3 (CPython >= 3.9), e.g.
#   MJPEG_RTP_PYTHONS="python3 /root/.pyenv/versions/3.9.18/bin/python3"
# With libturbojpeg installed (pkg-config), the package is built with the
# libjpeg-turbo decoder too; `.ci/run` then also sets
# MJPEG_RTP_REQUIRE_PEERS=1, so a test that would skip for want of a peer
# (GStreamer, djpeg, the libjpeg-turbo decoder) fails instead.
set -euo pipefail
cd "$(dirname "$0")/../.."

target="${CARGO_TARGET_DIR:-$PWD/target}"
# The project's own sender, which the tests use.
cargo build --release -q -p mjpeg-rtp-cli
export MJPEG_RTP_BIN="$target/release/mjpeg-rtp"

if pkg-config --exists libturbojpeg 2>/dev/null; then
    export MATURIN_PEP517_ARGS="--features turbojpeg"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for python in ${MJPEG_RTP_PYTHONS:-python3}; do
    venv="$work/venv-$(basename "$python")-$RANDOM"
    echo "== python: $("$python" --version 2>&1) in a fresh venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q maturin pytest numpy mypy
    # The build backend from the venv (maturin, just installed, found on
    # PATH) rather than a second download into an isolated environment.
    PATH="$venv/bin:$PATH" "$venv/bin/pip" install -q --no-build-isolation ./python
    # From the repository root, so that `import mjpeg_rtp` is the
    # installed package, not the python/mjpeg_rtp sources.
    status=0
    "$venv/bin/python" -m pytest python/tests -q -p no:cacheprovider || status=$?
    if [ "$status" = 5 ]; then
        echo "python: pytest collected no tests" >&2
        exit 1
    elif [ "$status" != 0 ]; then
        exit "$status"
    fi
done
