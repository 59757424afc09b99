#!/usr/bin/env bash
# The soak test's 60-second variant (issue 22; README "Soak"): build the
# bench and the `mjpeg-rtp` command in release, then run
# `mjpeg-rtp-bench soak --duration 60`: one `mjpeg-rtp recv --http` with 16
# cameras whose servers and senders restart at random, viewers coming and
# going, /metrics scraped every second. It exits non-zero naming what
# failed (growth of RSS, fds or threads, a reconnect gap over 3 s, a
# session lapse, a frame not pixel-exact). The JSON report is kept where
# SOAK_REPORT says (default: a temporary file, deleted).
#
#   SOAK_SECONDS=600 .ci/checks/soak.sh    # the full ten minutes
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${SOAK_SECONDS:-60}

if ! /usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0')" 2>/dev/null; then
    if [ -n "${MJPEG_RTP_REQUIRE_PEERS:-}" ]; then
        echo "soak: gst-rtsp-server for python3 is required (python3-gi gir1.2-gst-rtsp-server-1.0)" >&2
        exit 1
    fi
    echo "soak: SKIPPED (no gst-rtsp-server for python3)" >&2
    exit 0
fi

cargo build --quiet --release -p mjpeg-rtp-bench -p mjpeg-rtp-cli
bin="${CARGO_TARGET_DIR:-target}/release"
report=${SOAK_REPORT:-}
if [ -z "$report" ]; then
    report=$(mktemp)
    trap 'rm -f "$report"' EXIT
fi
"$bin/mjpeg-rtp-bench" soak --duration "$seconds" >"$report"
