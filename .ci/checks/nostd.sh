#!/usr/bin/env bash
# mjpeg-rtp-core in a #![no_std], #![no_main] binary with no allocator
# (core/nostd-check): build it in both profiles, run it (it exits 0 only
# when a packetized frame comes back byte-identical), and check that the
# two negative controls still fail the way they must — so the check would
# notice std or alloc creeping into the core.
set -euo pipefail
cd "$(dirname "$0")/../../core/nostd-check"
export CARGO_TARGET_DIR="${NOSTD_TARGET_DIR:-$PWD/target}"
start=$SECONDS

cargo build --quiet
cargo build --quiet --release
bin="$CARGO_TARGET_DIR/release/mjpeg-rtp-nostd-check"

host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
    x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu)
        for profile in debug release; do
            if ! "$CARGO_TARGET_DIR/$profile/mjpeg-rtp-nostd-check"; then
                echo "nostd-check ($profile) failed with exit code $?" >&2
                exit 1
            fi
        done
        if command -v file >/dev/null && ! file "$bin" | grep -q 'statically linked'; then
            echo "nostd-check is not a static executable" >&2
            exit 1
        fi
        ;;
    *) echo "nostd-check built (not run on $host)" ;;
esac

expect_failure() {
    local feature=$1 message=$2 log
    if log=$(cargo build --release --features "$feature" 2>&1); then
        echo "nostd-check with --features $feature built, but must not" >&2
        exit 1
    fi
    grep -qF "$message" <<<"$log" || {
        echo "nostd-check --features $feature failed without '$message':" >&2
        echo "$log" >&2
        exit 1
    }
}
expect_failure link-std "duplicate lang item \`panic_impl\`"
expect_failure link-alloc "no global memory allocator"

echo "nostd-check: ok ($((SECONDS - start)) s)"
