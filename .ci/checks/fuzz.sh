#!/usr/bin/env bash
# Fuzz smoke run: build every cargo-fuzz target (nightly; optimized, with
# debug assertions and overflow checks in our own crates via
# fuzz/Cargo.toml's profile overrides; no sanitizer, for build and run
# speed: the core forbids unsafe), then run each one briefly from its
# committed seeds so that a regression fails CI. Longer runs (with
# AddressSanitizer) are for people: see fuzz/README.md.
#
#   FUZZ_SECONDS=20 .ci/checks/fuzz.sh        # per target (default 10)
#   FUZZ_TARGETS="reassembly rtp_parse" ...   # a subset
set -euo pipefail
cd "$(dirname "$0")/../../fuzz"
seconds=${FUZZ_SECONDS:-10}
start=$SECONDS

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: the nightly toolchain is required (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: cargo-fuzz is required (cargo install --locked cargo-fuzz)" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(-O --sanitizer none)
if ! cargo +nightly fuzz build "${flags[@]}" >"$work/build.log" 2>&1; then
    grep -E '^error' -A12 "$work/build.log" >&2 || tail -40 "$work/build.log" >&2
    echo "fuzz: build failed" >&2
    exit 1
fi
echo "fuzz: built in $((SECONDS - start)) s"

targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
failed=0
for target in $targets; do
    t0=$SECONDS
    mkdir -p "$work/$target"
    seeds="seeds/$target"
    [ -d "$seeds" ] || seeds=""
    log="$work/$target.log"
    if cargo +nightly fuzz run "${flags[@]}" "$target" "$work/$target" $seeds -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        echo "fuzz: $target ok, ${runs:-?} executions in $((SECONDS - t0)) s"
    else
        failed=1
        echo "fuzz: $target FAILED" >&2
        grep -E 'panicked at|^thread|ERROR: libFuzzer|SUMMARY|Test unit written' -A2 "$log" >&2 || tail -40 "$log" >&2
        echo "fuzz: reproduce with: cd fuzz && cargo +nightly fuzz run -O $target artifacts/$target/<crash file>" >&2
    fi
done
echo "fuzz: total $((SECONDS - start)) s"
exit $failed
