#!/usr/bin/env bash
# mjpeg_rtp.ray (python/mjpeg_rtp/ray/). In a fresh venv with ray but
# without the package, the README's runtime_env ships the self-contained
# wheel (.ci/build-wheel.sh) to a worker node, which decodes with it; then
# the wheel is installed with its `ray` extra, and the fleet's tests
# (python/tests_ray/) run on a 3-node ray.cluster_utils.Cluster of this
# machine, fed by gst-rtsp-server.
set -euo pipefail
cd "$(dirname "$0")/../.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

wheel="$(bash .ci/build-wheel.sh "$work/wheels")"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "ray>=2.49" numpy pytest psutil
echo "== ray $("$work/venv/bin/python" -c 'import ray; print(ray.__version__)')"
"$work/venv/bin/python" python/tests_ray/ship_wheel.py "$wheel"
"$work/venv/bin/pip" install -q "$wheel[ray]"
# From the repository root, so that `import mjpeg_rtp` is the installed
# package, not the python/mjpeg_rtp sources.
status=0
"$work/venv/bin/python" -m pytest python/tests_ray -q -p no:cacheprovider || status=$?
if [ "$status" = 5 ]; then
    echo "ray: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
