#!/usr/bin/env bash
# mjpeg_rtp.ray (python/mjpeg_rtp/ray.py): the self-contained wheel
# (.ci/build-wheel.sh) installed with its `ray` extra into a fresh venv,
# then the fleet's tests (python/tests_ray/) on a 3-node
# ray.cluster_utils.Cluster of this machine, fed by gst-rtsp-server.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

wheel="$(bash .ci/build-wheel.sh "$work/wheels")"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel[ray]" pytest psutil
echo "== ray $("$work/venv/bin/python" -c 'import ray; print(ray.__version__)')"
# From the repository root, so that `import mjpeg_rtp` is the installed
# package, not the python/mjpeg_rtp sources.
status=0
"$work/venv/bin/python" -m pytest python/tests_ray -q -p no:cacheprovider || status=$?
if [ "$status" = 5 ]; then
    echo "ray: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
