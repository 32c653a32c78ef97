# Sourced by the bench scripts that drive the CLI with scikit-learn's data: builds hourglass,
# makes sure the bench virtualenv has scikit-learn, and opens a scratch folder removed on exit.
# Sets: hg (the binary), venv (the virtualenv), work (the scratch folder).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hourglass-target}"
cargo build --release -q --bin hourglass
hg="$CARGO_TARGET_DIR/release/hourglass"
venv="${HOURGLASS_BENCH_VENV:-$HOME/.cache/hourglass-bench-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import sklearn" 2>/dev/null || "$venv/bin/pip" install -q scikit-learn
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
