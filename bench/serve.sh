#!/usr/bin/env bash
# Load test: `hourglass serve` against a FastAPI + uvicorn + PyTorch service doing the same work
# (bench/serve_torch.py) on the same dense Fashion-MNIST model, on loopback only, with Debian's
# `hey` as the load generator (it shares the machine's cores with the service under test, the
# same for both). Every run is bounded in time; the error-free run in requests.
#   - throughput and p50/p99 latency at concurrency 1, 16 and 64, 1-row and 64-row requests;
#   - each service's peak RSS (VmHWM) over all of its runs;
#   - 100,000 single-row requests to hourglass: errors counted;
#   - 4× overload of hourglass (4× the requests per second it served at concurrency 64, from
#     1,024 clients): how many it sheds with 503, and its p99 for the requests it accepted;
#   - schemathesis against /openapi.json: no 5xx, every response as the document says.
# Usage: bench/serve.sh [SECONDS per run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
hg_port=18080
torch_port=18081

data=/usr/share/datasets/fashion-mnist
need=()
[ -f "$data/train-images-idx3-ubyte.gz" ] || need+=(dataset-fashion-mnist)
command -v hey >/dev/null || need+=(hey)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${need[@]}"
fi
venv="${HOURGLASS_BENCH_VENV:-$HOME/.cache/hourglass-bench-venv}"
if ! "$venv/bin/python" -c "import torch, numpy, fastapi, uvicorn, safetensors, schemathesis" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch numpy fastapi uvicorn safetensors schemathesis
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hourglass-target}"
cargo build --release -q -p hourglass-cli
hourglass="$CARGO_TARGET_DIR/release/hourglass"

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

echo "training the dense model (5 epochs of Fashion-MNIST)..."
"$hourglass" train --data "$data" --split train --model dense --epochs 5 \
    --out "$work/dense.safetensors" >/dev/null
# Request bodies: test images as raw pixel values, 1 and 64 rows.
"$venv/bin/python" - "$data/t10k-images-idx3-ubyte.gz" "$work" <<'EOF'
import gzip, json, sys
import numpy as np
raw = gzip.open(sys.argv[1]).read()
images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784)
for n in (1, 64):
    with open(f"{sys.argv[2]}/rows{n}.json", "w") as f:
        json.dump({"instances": images[:n].astype(int).tolist()}, f)
EOF

wait_ready() {
    for _ in $(seq 300); do
        curl -sf "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "service at $1 did not come up" >&2
    exit 1
}
peak_rss_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

# One hey run written as CSV (a line per request), summarised by summarise().
load() { # URL BODY CONCURRENCY OUT [extra hey flags]
    local url="$1" body="$2" c="$3" out="$4"
    shift 4
    hey -z "${seconds}s" -c "$c" -m POST -T application/json -D "$body" -o csv "$@" "$url" >"$out"
}
summarise() { # CSV -> "answered-200/s p50_ms p99_ms ok errors shed p99_ok_ms"
    python3 - "$1" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if not rows:
    print("0 - - 0 0 0 -"); sys.exit()
times = sorted(float(r["response-time"]) * 1000 for r in rows)
ok = sorted(float(r["response-time"]) * 1000 for r in rows if r["status-code"] == "200")
shed = sum(r["status-code"] == "503" for r in rows)
span = max(float(r["offset"]) + float(r["response-time"]) for r in rows)
q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")
print(f"{len(ok) / span:.0f} {q(times, .5):.2f} {q(times, .99):.2f} {len(ok)} "
      f"{len(rows) - len(ok) - shed} {shed} {q(ok, .99):.2f}")
EOF
}

"$hourglass" serve --model "dense=$work/dense.safetensors" --addr "127.0.0.1:$hg_port" \
    2>"$work/hourglass.log" &
hg_pid=$!
pids+=("$hg_pid")
hg_url="http://127.0.0.1:$hg_port/v1/models/dense/score"
wait_ready "http://127.0.0.1:$hg_port/readyz"
threshold=$(curl -s "http://127.0.0.1:$hg_port/v1/models/dense" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["threshold"])')

# The yardstick must compute hourglass's own scores, or this is not the same work.
curl -s "$hg_url" -H 'content-type: application/json' -d @"$work/rows64.json" >"$work/scores64.json"
"$venv/bin/python" bench/serve_torch.py "$work/dense.safetensors" --check "$work/rows64.json" \
    "$work/scores64.json"
"$venv/bin/python" bench/serve_torch.py "$work/dense.safetensors" --threshold "$threshold" \
    --port "$torch_port" --threads "$(nproc)" 2>"$work/torch.log" &
torch_pid=$!
pids+=("$torch_pid")
torch_url="http://127.0.0.1:$torch_port/v1/models/dense/score"
wait_ready "http://127.0.0.1:$torch_port/healthz"

printf "\n%-10s %5s %4s %10s %9s %9s %7s\n" service rows c "200s/s" "p50 ms" "p99 ms" "not 200"
declare -A rps p99
for rows in 1 64; do
    for c in 1 16 64; do
        for service in hourglass pytorch; do
            url=$hg_url; [ "$service" = pytorch ] && url=$torch_url
            load "$url" "$work/rows$rows.json" "$c" "$work/run.csv"
            read -r r p50 p99v ok errors shed _ < <(summarise "$work/run.csv")
            rps[$service.$rows.$c]=$r
            p99[$service.$rows.$c]=$p99v
            printf "%-10s %5s %4s %10s %9s %9s %7s\n" "$service" "$rows" "$c" "$r" "$p50" "$p99v" \
                "$((errors + shed))"
        done
        echo "RATIO rows=$rows c=$c throughput $(python3 -c \
            "print(f'{${rps[hourglass.$rows.$c]} / max(1, ${rps[pytorch.$rows.$c]}):.2f}')")" \
            "p99 $(python3 -c "print(f'{${p99[pytorch.$rows.$c]} / ${p99[hourglass.$rows.$c]}:.2f}')")"
    done
done
echo "peak RSS: hourglass $(peak_rss_mb "$hg_pid") MB, pytorch $(peak_rss_mb "$torch_pid") MB"
kill "$torch_pid"

echo
echo "100,032 single-row requests to hourglass at concurrency 64 (hey sends n/c per client):"
hey -n 100032 -c 64 -m POST -T application/json -D "$work/rows1.json" -o csv "$hg_url" \
    >"$work/run.csv"
read -r r p50 p99v ok errors shed _ < <(summarise "$work/run.csv")
echo "  $ok answered 200, $errors errors, $shed shed; $r req/s, p99 $p99v ms"

unloaded=${p99[hourglass.1.64]}
clients=1024
rate=$(python3 -c "print(f'{4 * ${rps[hourglass.1.64]} / $clients:.2f}')")
echo
echo "4x overload: $clients clients at $rate req/s each (4 x ${rps[hourglass.1.64]} req/s):"
load "$hg_url" "$work/rows1.json" "$clients" "$work/run.csv" -q "$rate"
read -r r p50 p99v ok errors shed p99_ok < <(summarise "$work/run.csv")
echo "  $ok answered 200, $shed shed with 503, $errors other errors;" \
    "p99 of the accepted $p99_ok ms vs $unloaded ms unloaded (c=64):" \
    "$(python3 -c "print(f'{$p99_ok / $unloaded:.2f}')")x"
echo "peak RSS of hourglass after everything: $(peak_rss_mb "$hg_pid") MB"

# The document is one for every model, so a request it allows can still be refused with 422
# when it does not fit the model served (a width, column names): schemathesis's
# positive_data_acceptance check would count that, so it is left out; every other check runs.
echo
echo "schemathesis against /openapi.json (every check but positive_data_acceptance):"
logged=$(wc -l <"$work/hourglass.log")
"$venv/bin/schemathesis" run "http://127.0.0.1:$hg_port/openapi.json" --checks all \
    --exclude-checks positive_data_acceptance -n 100 --generation-deterministic 2>&1 |
    grep -E "passed|failed|generated|Failures|ST[0-9]" || true
echo "statuses answered during the schemathesis run:"
tail -n +"$((logged + 1))" "$work/hourglass.log" | grep -o "status=[0-9]*" | sort | uniq -c
