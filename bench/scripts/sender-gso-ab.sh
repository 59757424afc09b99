#!/bin/bash
# The replay sender's CPU with UDP GSO against one datagram per message,
# in alternating rounds against the same receiver: the live ramp's sender
# must not be what stops it (issue 20's (b)).
#
#   cargo build --release -p mjpeg-rtp-bench -p mjpeg-rtp-cli
#   bash bench/scripts/sender-gso-ab.sh [CAMERAS] [ROUNDS]    # 16 3
#
# Prints each round's sender CPU (user + system seconds, from
# /usr/bin/time) for the same packets, and the receiver's loss.
set -euo pipefail
cameras=${1:-16}
rounds=${2:-3}
bin=$(cd "$(dirname "$0")/../.." && pwd)/target/release
work=$(mktemp -d)
trap 'kill "$receiver" 2>/dev/null || true; rm -rf "$work"' EXIT

# The bench's 1080p capture (30 frames, ~132 packets each).
"$bin/mjpeg-rtp-bench" --quick --no-live --no-gst --no-decode-size \
    --keep-capture "$work/capture.pcap" > /dev/null 2>&1
args=() to=()
for k in $(seq 0 $((cameras - 1))); do
    port=$((41000 + 2 * k))
    args+=(--camera "c$k=127.0.0.1:$port")
    to+=("127.0.0.1:$port")
done
"$bin/mjpeg-rtp" recv "${args[@]}" > "$work/recv.json" 2> "$work/recv.err" &
receiver=$!
sleep 1
destinations=$(IFS=,; echo "${to[*]}")
for round in $(seq "$rounds"); do
    for mode in gso no-gso; do
        flag=()
        [ "$mode" = no-gso ] && flag=(--no-gso)
        /usr/bin/time -f "round $round $mode: %U s user + %S s system" \
            "$bin/mjpeg-rtp-bench" replay --capture "$work/capture.pcap" \
            --to "$destinations" --fps 30 --frames 150 "${flag[@]}" \
            2>&1 > "$work/$mode.json" | tail -1
        python3 -c "import json,sys; d=json.load(open(sys.argv[1])); \
print('  packets', d['packets_sent'], 'in', d['messages_sent'], 'messages, errors', d['send_errors'])" \
            "$work/$mode.json"
    done
done
kill -INT "$receiver"
wait "$receiver" || true
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); s=d['streams']; \
print('receiver: packets lost', sum(x.get('packets_lost', 0) for x in s), \
'kernel drops', sum(x.get('kernel_drops') or 0 for x in s))" "$work/recv.json"
