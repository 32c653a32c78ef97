#!/usr/bin/env bash
# Data larger than memory (issue 15): `train` (1 epoch) and `score` with --stream on 1×, 4× and
# 16× the Fashion-MNIST training set (60,000 images; 16× is 960,000 images, 3.0 GB as float32
# NPY), as NPY and as Parquet (row groups of 65,536 rows), with peak resident memory and wall
# time per run; the in-memory path beside it on the NPY files of the sizes in IN_MEMORY.
# Usage: bench/scale.sh; SIZES="1 4 16" and IN_MEMORY="1 4" choose the sizes, SCALE_DIR the
# scratch folder (about 8 GB at 16×; removed at the end unless KEEP=1).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${SIZES:-1 4 16}"
in_memory="${IN_MEMORY:-1 4}"
work="${SCALE_DIR:-/tmp/hourglass-scale}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hourglass-target}"

images=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ ! -f "$images" ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq dataset-fashion-mnist
fi
# The binary as the test build makes it (same features; `cargo build -p hourglass-cli` alone
# would build Burn a second time).
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" cargo test --release -q --workspace \
    --features hourglass-cli/wgpu --no-run 2>/dev/null
hg="$CARGO_TARGET_DIR/release/hourglass"
venv="$work/venv"
mkdir -p "$work"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import numpy, pyarrow" 2>/dev/null ||
    "$venv/bin/pip" install -q --disable-pip-version-check numpy pyarrow

# The data sets: the training images repeated k times, float32.
"$venv/bin/python" - "$images" "$work" $sizes <<'PY'
import gzip, os, sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
source, work, sizes = sys.argv[1], sys.argv[2], [int(k) for k in sys.argv[3:]]
with gzip.open(source) as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28).astype(np.float32)
n = len(images)
schema = pa.schema([(f"p{j}", pa.float32()) for j in range(784)])
for k in sizes:
    npy, parquet = f"{work}/fmnist-{k}x.npy", f"{work}/fmnist-{k}x.parquet"
    if not os.path.exists(npy):
        out = np.lib.format.open_memmap(npy + ".tmp", mode="w+", dtype=np.float32, shape=(k * n, 28, 28))
        for i in range(k):
            out[i * n:(i + 1) * n] = images
        out.flush(); del out
        os.rename(npy + ".tmp", npy)
    if not os.path.exists(parquet):
        flat = images.reshape(n, 784)
        with pq.ParquetWriter(parquet + ".tmp", schema) as writer:
            for _ in range(k):
                table = pa.Table.from_arrays([pa.array(flat[:, j]) for j in range(784)], schema=schema)
                writer.write_table(table, row_group_size=65536)
        os.rename(parquet + ".tmp", parquet)
PY

# One run: peak RSS (MiB) and wall seconds, from GNU time.
measure() {
    local log="$work/time.log"
    /usr/bin/time -f "%M %e" -o "$log" "$@" >/dev/null
    awk '{ printf "%.0f MiB | %.1f s", $1 / 1024, $2 }' "$log"
}
common=(--model dense --hidden 256,64 --latent 32 --epochs 1 --batch-size 256 --ensemble 1 --seed 1)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "$(date -u +%F), $cpu, $(nproc) cores; ${common[*]}"
echo
echo "| data | path | rows | train: peak RSS | train: wall | score: peak RSS | score: wall |"
echo "|---|---|---:|---:|---:|---:|---:|"
# Files just written are still being flushed: each is read once before its runs, so every run
# finds it in the page cache (3 GB fits this machine's 24 GiB; what disk speed adds is not
# hourglass's to measure).
sync
for format in npy parquet; do
    for k in $sizes; do
        data="$work/fmnist-${k}x.$format"
        cat "$data" >/dev/null
        model="$work/m-$format-$k.safetensors"
        train=$(measure "$hg" train --stream --data "$data" "${common[@]}" --out "$model")
        score=$(measure "$hg" score --stream --model "$model" --data "$data" --out "$work/scores.csv")
        echo "| $format ${k}× | --stream | $((k * 60000)) | $train | $score |"
    done
done
for k in $in_memory; do
    data="$work/fmnist-${k}x.npy"
    cat "$data" >/dev/null
    model="$work/m-memory-$k.safetensors"
    train=$(measure "$hg" train --data "$data" "${common[@]}" --out "$model")
    score=$(measure "$hg" score --model "$model" --data "$data" --out "$work/scores.csv")
    echo "| npy ${k}× | in memory | $((k * 60000)) | $train | $score |"
done

# What the windowed shuffle costs: test MSE (the shipped Fashion-MNIST test split) after 5 epochs
# on the 1× set, in memory (a full shuffle) and streamed (a 64 MiB window, 21,000 of the 60,000
# images), on the file in its own (random) order and sorted by class, three seeds.
labels=/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz
"$venv/bin/python" - "$images" "$labels" "$work/fmnist-sorted.npy" <<'PY'
import gzip, sys
import numpy as np
with gzip.open(sys.argv[1]) as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28).astype(np.float32)
with gzip.open(sys.argv[2]) as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)
np.save(sys.argv[3], images[np.argsort(labels, kind="stable")])
PY
mse() {
    "$hg" eval --model "$1" --data data/fashion-mnist --json |
        "$venv/bin/python" -c 'import json, sys; print("%.5f" % json.load(sys.stdin)["mse"])'
}
echo
echo "| training file | seed | in memory: test MSE | --stream: test MSE |"
echo "|---|---|---:|---:|"
for file in fmnist-1x fmnist-sorted; do
    for seed in 1 2 3; do
        args=(--data "$work/$file.npy" --model dense --hidden 256,64 --latent 32 --epochs 5
            --batch-size 256 --seed "$seed")
        "$hg" train "${args[@]}" --out "$work/full.safetensors" >/dev/null
        "$hg" train --stream "${args[@]}" --out "$work/window.safetensors" >/dev/null
        echo "| $file | $seed | $(mse "$work/full.safetensors") | $(mse "$work/window.safetensors") |"
    done
done
[ "${KEEP:-0}" = 1 ] || rm -rf "$work"
