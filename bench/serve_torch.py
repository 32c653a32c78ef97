"""The yardstick for `hourglass serve`: a FastAPI + uvicorn + PyTorch service doing the same work
as `POST /v1/models/{name}/score` on the same dense model file.

It reads the hourglass model (a safetensors file) with the `safetensors` package, runs the same
network in PyTorch, and computes the model's default image score as hourglass does
(`combined`: the reconstruction error over each pixel's training error, plus the code's mean
distance to its nearest training codes, each on its training scale), then flags rows above the
threshold given on the command line (the one `hourglass serve` reports). One request, one forward
pass: no micro-batching, as a FastAPI service is usually written. The body is parsed with
`Request.json()` rather than a pydantic model (pydantic validation of 64 × 784 floats would cost
more than the network).

Usage: python bench/serve_torch.py MODEL.hgm --threshold T [--port 8081] [--threads 2]
Check mode (no server): python bench/serve_torch.py MODEL.hgm --check ROWS.json SCORES.json
"""

import argparse
import json
import sys

import numpy as np
import torch
from safetensors import safe_open


class Detector(torch.nn.Module):
    def __init__(self, path):
        super().__init__()
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata()
            tensors = {k: torch.from_numpy(f.get_tensor(k).copy()) for k in f.keys()}
        config = json.loads(meta["config"])
        scaling = json.loads(meta["scaling"])
        plain = (config["architecture"]["kind"] == "dense" and config["activation"] == "relu"
                 and config["output"] == "sigmoid" and not config["beta"] and not config["classes"] and not config["sparsity"])
        if not plain or scaling["kind"] != "pixels":
            sys.exit(f"serve_torch.py serves dense ReLU image models, not {config}, {scaling}")
        self.max = scaling["max"]
        detector = json.loads(meta["anomaly"])
        if detector.get("members"):
            sys.exit("serve_torch.py serves single networks, not ensembles")
        self.encoder = self._layers(tensors, "encoder")
        self.decoder = self._layers(tensors, "decoder")
        self.feature_error = torch.tensor(detector["feature_error"])
        k = len(detector["latent_mean"])
        self.reference = torch.tensor(detector["reference_codes"]).reshape(-1, k)
        self.neighbours = detector["neighbours"]
        self.normalized = detector["normalized_spread"]
        self.knn = detector["knn_spread"]

    @staticmethod
    def _layers(tensors, prefix):
        layers, i = [], 0
        while f"{prefix}.{i}.weight" in tensors:
            # Burn keeps Linear weights as [in, out]; nn.Linear wants [out, in].
            w = tensors[f"{prefix}.{i}.weight"]
            linear = torch.nn.Linear(w.shape[0], w.shape[1])
            linear.weight.data = w.t().contiguous()
            linear.bias.data = tensors[f"{prefix}.{i}.bias"]
            layers.append(linear)
            i += 1
        return torch.nn.ModuleList(layers)

    def forward(self, raw):
        x = raw / self.max
        z = x
        for i, layer in enumerate(self.encoder):
            z = layer(z)
            if i + 1 < len(self.encoder):
                z = torch.relu(z)
        y = z
        for i, layer in enumerate(self.decoder):
            y = layer(y)
            y = torch.relu(y) if i + 1 < len(self.decoder) else torch.sigmoid(y)
        errors = (x - y) ** 2
        normalized = (errors / self.feature_error).mean(dim=1)
        distances = torch.cdist(z, self.reference)
        knn = distances.topk(self.neighbours, largest=False).values.mean(dim=1)
        return (normalized - self.normalized["median"]) / self.normalized["scale"] + (
            knn - self.knn["median"]
        ) / self.knn["scale"]


def app(model, threshold, name):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    api = FastAPI()

    @api.post(f"/v1/models/{name}/score")
    async def score(request: Request):
        body = await request.json()
        rows = torch.tensor(body["instances"], dtype=torch.float32)
        with torch.inference_mode():
            scores = model(rows).tolist()
        return JSONResponse({
            "model": name,
            "score": "combined",
            "threshold": threshold,
            "results": [{"score": s, "anomalous": s > threshold} for s in scores],
        })

    @api.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    return api


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--threshold", type=float, default=float("inf"))
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="dense")
    parser.add_argument("--check", nargs=2, metavar=("ROWS_JSON", "SCORES_JSON"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = Detector(args.model).eval()
    if args.check:
        # The scores must be hourglass's own, or the comparison is not of the same work.
        rows = torch.tensor(json.load(open(args.check[0]))["instances"], dtype=torch.float32)
        theirs = np.array([r["score"] for r in json.load(open(args.check[1]))["results"]])
        with torch.inference_mode():
            ours = model(rows).numpy()
        gap = float(np.max(np.abs(ours - theirs) / (1 + np.abs(theirs))))
        print(f"largest relative score difference from hourglass: {gap:.2e}")
        sys.exit(0 if gap < 1e-3 else 1)
    import uvicorn

    uvicorn.run(app(model, args.threshold, args.name), host="127.0.0.1", port=args.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
