#!/usr/bin/env bash
# Checks that the wheel's build (maturin, `hourglass-py --features wgpu`) asks every shared crate
# for the same features as the workspace's test build (`cargo test --workspace --features
# hourglass-cli/wgpu`). A crate built with other features is compiled again, with everything above
# it, which costs CI a second build of Burn. Fix a difference by asking for the feature in
# crates/hourglass-py/Cargo.toml. Reads `cargo tree` only; builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
features() { cargo tree --prefix none -f '{p}|{f}' "$@" 2>/dev/null | sed 's/ (\*)$//' | sort -u; }
workspace="$(features --workspace --features hourglass-cli/wgpu -e normal,build,dev)"
wheel="$(features -p hourglass-py --features wgpu -e normal,build)"
# A package appears once per feature set it is built with (a build script's copy can differ from
# the program's), so the wheel's lines must each be one of the workspace's. hourglass-py itself
# differs by design: the workspace builds it without `wgpu`.
differ="$(comm -23 <(echo "$wheel") <(echo "$workspace") | grep -v '^hourglass-py ' || true)"
if [ -n "$differ" ]; then
    echo "the wheel's build asks these crates for other features than the workspace's test build:" >&2
    echo "$differ" | sed "s/|/ with features: /" >&2
    exit 1
fi
echo "features: the wheel's build matches the workspace's"
