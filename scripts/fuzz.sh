#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 30) from a copy of its committed corpus, with
# libFuzzer's RSS limit at 1 GiB: a panic, a timeout or memory past the limit fails. Built without a
# sanitizer (hourglass is safe Rust; ASan would triple the build time) but with overflow checks.
# Usage: bash scripts/fuzz.sh [SECONDS] [TARGET...]; FUZZ_DEV=1 builds without optimisation
# (a shorter build, fewer executions: enough for CI's smoke, not for long runs).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-30}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csv idx npy model checkpoint hgz config mask table)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
target_dir="${CARGO_TARGET_DIR:-$HOME/.cache/hourglass-target}-fuzz"
mode=()
[ "${FUZZ_DEV:-0}" = 1 ] && mode=(--dev)

# Seconds one input may take. table: parquet 60.1's Thrift reader can spend seconds skipping
# what a crafted page header or footer declares (it reads known fields by their expected type,
# so a pre-walk cannot see what it will skip): upstream, open (BENCHMARKS.md). Panics of ours
# and memory past 1 GiB still fail.
per_input_timeout() { if [ "$1" = table ]; then echo 60; else echo 10; fi; }

cargo +nightly fuzz build "${mode[@]}" -s none -a --target-dir "$target_dir"
for t in "${targets[@]}"; do
    work="$(mktemp -d)"
    cp -r "corpus/$t/." "$work/"
    status=0
    cargo +nightly fuzz run "${mode[@]}" -s none -a --target-dir "$target_dir" "$t" "$work" -- \
        -rss_limit_mb=1024 -timeout="$(per_input_timeout "$t")" -max_total_time="$seconds" \
        -print_final_stats=1 >"$work.log" 2>&1 || status=$?
    runs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$work.log" | grep -o "[0-9]*$" || echo "?")
    rss=$(grep -o "stat::peak_rss_mb: *[0-9]*" "$work.log" | grep -o "[0-9]*$" || echo "?")
    echo "fuzz $t: ${seconds}s, $runs runs, peak RSS ${rss} MB, exit $status"
    if [ "$status" -ne 0 ]; then
        # No libFuzzer report (a failed build, say): the log's end says why.
        { grep -E -A20 "ERROR|panicked|SUMMARY" "$work.log" || tail -20 "$work.log"; } | head -60
        echo "fuzz target $t failed; the input that did it is under fuzz/artifacts/$t/"
        exit 1
    fi
    rm -rf "$work" "$work.log"
done
