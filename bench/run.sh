#!/usr/bin/env bash
# Side-by-side speed benchmark: hourglass (Burn flex) against PyTorch on the same CPU, same data,
# same models. Alternates the two implementations, then prints a table and one line per figure:
#   RATIO <model> <train|infer-b1|infer-b64|infer-b1024|rss|mse> <PyTorch cost / hourglass cost>
# (above 1 means hourglass is better). Usage:
#   bench/run.sh [--quick] [--avx2] [--threads N] [--models "dense vae"]
# --avx2 runs both sides on their AVX2 kernels on an AVX-512 machine: hourglass built without its
# `x86-v4` feature (a second build of Burn, in the same target directory), PyTorch with
# ATEN_CPU_CAPABILITY=avx2, MKL_ENABLE_INSTRUCTIONS=AVX2 and ONEDNN_MAX_CPU_ISA=AVX2 (its convolutions).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
avx2=0
threads=$(nproc)
models="dense conv2d vae conv1d"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --avx2) avx2=1 ;;
        --threads) threads="$2"; shift ;;
        --models) models="$2"; shift ;;
        *) echo "usage: bench/run.sh [--quick] [--avx2] [--threads N] [--models \"dense vae\"]" >&2; exit 2 ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then rounds=1; steps=30; infer=1; else rounds=3; steps=200; infer=3; fi

. bench/torch_env.sh
build_flags=(-p hourglass --bench speed)
if [ "$avx2" = 1 ]; then
    build_flags+=(--no-default-features)
fi
bench_bin=$(cargo bench "${build_flags[@]}" --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "speed" and m.get("executable"):
        print(m["executable"])')

results=$(mktemp)
"$venv/bin/python" bench/torch_reference.py --matmul-rate --threads "$threads" >> "$results"
for model in $models; do
    for round in $(seq "$rounds"); do
        echo "round $round/$rounds: $model" >&2
        RAYON_NUM_THREADS=$threads "$bench_bin" --model "$model" --steps "$steps" \
            --infer-seconds "$infer" --data "$data" >> "$results"
        "$venv/bin/python" bench/torch_reference.py --model "$model" --steps "$steps" \
            --infer-seconds "$infer" --threads "$threads" --data "$data" >> "$results"
    done
done

python3 - "$results" "$threads" "$avx2" $models <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
simd = " ".join(f for f in flags if f in ("avx2", "fma") or f.startswith("avx512"))
print(f"CPU: {cpu}; flags: {simd}; kernels: {'AVX2 (forced)' if sys.argv[3] == '1' else 'best available'}")
threads = sys.argv[2]
models = sys.argv[4:]
def med(model, impl, get):
    return statistics.median(get(r) for r in rows if r.get("model") == model and r["impl"] == impl)
figures = [
    ("train", "train step (ms)", lambda r: r["step_ms"], "lower"),
    ("infer-b1", "infer b1 (samples/s)", lambda r: r["infer_sps"]["1"], "higher"),
    ("infer-b64", "infer b64 (samples/s)", lambda r: r["infer_sps"]["64"], "higher"),
    ("infer-b1024", "infer b1024 (samples/s)", lambda r: r["infer_sps"]["1024"], "higher"),
    ("rss", "peak RSS (MiB)", lambda r: r["peak_rss_mib"], "lower"),
    ("mse", "test MSE, 1 epoch", lambda r: r["test_mse_1epoch"], "lower"),
]
torch_version = next(r["version"] for r in rows if r["impl"] == "pytorch")
print(f"threads: {threads}; PyTorch {torch_version}; medians of {len(rows) // (2 * len(models))} round(s)")
print(f"| model | figure | hourglass | PyTorch | ratio (PyTorch/hourglass cost) |")
print(f"|---|---|---|---|---|")
ratios = []
for model in models:
    for key, label, get, better in figures:
        h, t = med(model, "hourglass", get), med(model, "pytorch", get)
        ratio = t / h if better == "lower" else h / t
        print(f"| {model} | {label} | {h:.4g} | {t:.4g} | {ratio:.2f}x |")
        ratios.append(f"RATIO {model} {key} {ratio:.3f}")
# The dense model's training step: forward 2·256·Σ(in·out) over its six layers, backward twice that.
rate = statistics.median(r["gflops"] for r in rows if r["impl"] == "matmul")
if "dense" in models:
    flops = 3 * 2 * 256 * (784 * 256 + 256 * 64 + 64 * 32 + 32 * 64 + 64 * 256 + 256 * 784)
    for impl in ("hourglass", "pytorch"):
        achieved = flops / med("dense", impl, lambda r: r["step_ms"]) / 1e6
        print(f"dense train step, {impl}: {achieved:.1f} GFLOP/s = {100 * achieved / rate:.0f} % "
              f"of the machine's f32 matmul rate ({rate:.1f} GFLOP/s, PyTorch 1024³, {threads} threads)")
        ratios.append(f"MATMUL_SHARE dense {impl} {achieved / rate:.3f}")
print()
print("\n".join(ratios))
PY
rm -f "$results"
