#!/usr/bin/env bash
# The self-contained wheel (.ci/build-wheel.sh): a manylinux wheel that
# carries its own libturbojpeg and no debug info, installed into a fresh
# venv and used where cargo is not on PATH and the system libturbojpeg
# cannot be loaded (hidden in a mount namespace when this runs as root
# with unshare), decoding with both decoders.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

wheel="$(bash .ci/build-wheel.sh "$work/wheels")"
name="$(basename "$wheel")"
echo "== wheel: $name ($(du -k "$wheel" | cut -f1) KB)"
case "$name" in
    *manylinux*) ;;
    *) echo "wheel: not a manylinux wheel: $name" >&2; exit 1 ;;
esac

# No debug info in the extension nor in the library bundled with it.
mkdir "$work/unzipped"
python3 -m zipfile -e "$wheel" "$work/unzipped"
for so in "$work"/unzipped/mjpeg_rtp/_native*.so "$work"/unzipped/mjpeg_rtp.libs/*.so*; do
    if readelf -S "$so" | grep -q '\.debug_'; then
        echo "wheel: $(basename "$so") carries debug info" >&2
        exit 1
    fi
done

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel"

# The installed extension finds libturbojpeg in the wheel, not the system.
site="$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
so="$(ls "$site"/mjpeg_rtp/_native*.so)"
turbo="$(ldd "$so" | sed -n 's/.*turbojpeg.* => \(.*\) (0x.*/\1/p')"
turbo="$(realpath "${turbo:-none}" 2>/dev/null || echo none)"
echo "wheel: the extension loads $turbo"
case "$turbo" in
    "$site"/mjpeg_rtp.libs/libturbojpeg*) ;;
    *) echo "wheel: the extension does not load the wheel's own libturbojpeg" >&2; exit 1 ;;
esac

# References: libjpeg-turbo's djpeg of the fixture's sent JPEGs, made
# here, before the library is hidden.
fixture=tests/fixtures/gst-420
for jpg in "$fixture"/[0-9]*.jpg; do
    djpeg -ppm "$jpg" >"$work/$(basename "$jpg" .jpg).ppm"
done

cat >"$work/use.py" <<'PY'
import sys
from pathlib import Path

import numpy as np

import mjpeg_rtp

fixture, refs = Path(sys.argv[1]), Path(sys.argv[2])
assert mjpeg_rtp.decoders() == ["zune-jpeg", "libjpeg-turbo"], mjpeg_rtp.decoders()


def ppm(path):
    data = path.read_bytes()
    header = data.split(b"\n", 3)
    w, h = map(int, header[1].split())
    return np.frombuffer(header[3], np.uint8).reshape(h, w, 3)


def psnr(a, b):
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


references = [ppm(p) for p in sorted(refs.glob("*.ppm"))]
for decoder in mjpeg_rtp.decoders():
    frames = list(mjpeg_rtp.read_pcap(str(fixture / "capture.pcap"), decoder=decoder))
    assert len(frames) == len(references), (decoder, len(frames))
    for (rgb, meta), ref in zip(frames, references):
        if decoder == "libjpeg-turbo":
            assert np.array_equal(rgb, ref), "libjpeg-turbo: djpeg's pixels"
        else:
            assert psnr(rgb, ref) >= 40, decoder
    # And each sent JPEG on its own, as a consumer of mjpeg_rtp.ray does.
    for jpg, ref in zip(sorted(fixture.glob("[0-9]*.jpg")), references):
        rgb = mjpeg_rtp.decode(jpg.read_bytes(), decoder=decoder)
        assert rgb.flags.writeable
        assert np.array_equal(rgb, ref) if decoder == "libjpeg-turbo" else psnr(rgb, ref) >= 40
    print(f"wheel: {decoder}: {len(frames)} frames of a capture and {len(references)} JPEGs decoded")
PY

# A PATH without cargo (and without ~/.cargo/bin); the venv's python.
clean_path=/usr/local/bin:/usr/bin:/bin
if PATH="$clean_path" command -v cargo >/dev/null; then
    echo "wheel: cargo is on $clean_path here: this check cannot leave it out" >&2
    exit 1
fi
run=(env -i "PATH=$clean_path" "HOME=$HOME" "$work/venv/bin/python" "$work/use.py" "$fixture" "$work")
libs="$(ldconfig -p | sed -n 's/.*libturbojpeg\.so.* => \(.*\)/\1/p' | xargs -r readlink -f | sort -u)"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && [ -n "$libs" ]; then
    # Every libturbojpeg of the system replaced by an empty file, in a
    # mount namespace of this command only.
    mounts=""
    for lib in $libs; do
        mounts="$mounts mount --bind /dev/null '$lib' &&"
    done
    unshare -m sh -c "$mounts python3 -c 'import ctypes
try:
    ctypes.CDLL(\"libturbojpeg.so.0\")
except OSError:
    pass
else:
    raise SystemExit(\"libturbojpeg is still loadable\")' && exec $(printf "'%s' " "${run[@]}")"
    echo "wheel: ran with the system libturbojpeg hidden"
else
    echo "wheel: note: not root or no unshare: the system libturbojpeg stays loadable (the extension's NEEDED list above has none)"
    "${run[@]}"
fi
