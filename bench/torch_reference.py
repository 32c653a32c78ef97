#!/usr/bin/env python3
"""PyTorch yardstick for hourglass's speed benchmark (bench/run.sh drives it).

Mirrors crates/hourglass/benches/speed.rs: the same models, the same Fashion-MNIST arrays (pixels
/ 255), float32, Adam 1e-3 (eps 1e-8), batch 256, MSE, PyTorch's default initialisation (which is
Burn's too). Prints one JSON line with the same keys as the Rust side.
"""
import argparse
import gzip
import json
import os
import resource
import statistics
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load(data_dir, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    return (images.reshape(len(images), -1).astype(np.float32) / 255.0)


def dense():
    return nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 32),
        nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 784),
        nn.Sigmoid(),
    )


class Conv2d(nn.Module):
    def __init__(self, latent=16):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 7 * 7, latent),
        )
        self.decoder_latent = nn.Linear(latent, 64 * 7 * 7)
        self.decoder = nn.Sequential(
            nn.ReLU(),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid(),
        )

    def forward(self, x):
        z = self.encoder(x.view(-1, 1, 28, 28))
        return self.decoder(self.decoder_latent(z)).view(-1, 784)


class Vae(nn.Module):
    """hourglass's dense VAE: the dense encoder ends in 2 × latent (mean, log-variance); the loss is
    MSE + β · KL / 784 (KL summed over the latent, averaged over the batch), β = 1; evaluation
    decodes the mean."""

    def __init__(self, latent=32):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 2 * latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, 64), nn.ReLU(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 784),
            nn.Sigmoid(),
        )
        self.penalty = 0.0

    def forward(self, x):
        mean, log_var = self.encoder(x).chunk(2, dim=1)
        if not self.training:
            return self.decoder(mean)
        z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        kl = 0.5 * (log_var.exp() + mean ** 2 - log_var - 1).sum(1).mean()
        self.penalty = kl / 784
        return self.decoder(z)


class Conv1d(nn.Module):
    """hourglass's conv1d model on each image read as a 784-step series."""

    def __init__(self, latent=16):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv1d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv1d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * 196, latent),
        )
        self.decoder_latent = nn.Linear(latent, 32 * 196)
        self.decoder = nn.Sequential(
            nn.ReLU(),
            nn.Unflatten(1, (32, 196)),
            nn.ConvTranspose1d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose1d(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid(),
        )

    def forward(self, x):
        z = self.encoder(x.view(-1, 1, 784))
        return self.decoder(self.decoder_latent(z)).view(-1, 784)


MODELS = {"dense": dense, "conv2d": Conv2d, "vae": Vae, "conv1d": Conv1d}


def build(model):
    return MODELS[model]()


def loss_of(model, x):
    """MSE, plus the KL penalty the forward pass left for a VAE."""
    return ((model(x) - x) ** 2).mean() + getattr(model, "penalty", 0.0)


def step(model, optimizer, x):
    """One optimizer step on batch `x`, waited for (`.item()`)."""
    optimizer.zero_grad(set_to_none=True)
    loss = loss_of(model, x)
    loss.backward()
    optimizer.step()
    loss.item()


def train_steps(model, optimizer, train, batches):
    """Times optimizer steps over consecutive batches of 256; returns milliseconds per step."""
    times = []
    for i in range(batches):
        x = torch.from_numpy(train[(i * 256) % 59_904:][:256])
        start = time.perf_counter()
        step(model, optimizer, x)
        times.append((time.perf_counter() - start) * 1000)
    return times


def inference(model, test, batch, min_seconds):
    """Samples per second of encode + reconstruct (host array in, host array out)."""
    model.eval()
    done, start = 0, time.perf_counter()
    with torch.no_grad():
        while True:
            x = torch.from_numpy(test[(done % 8192):][:batch])
            model(x).numpy()
            done += len(x)
            if time.perf_counter() - start >= min_seconds and done >= batch * 3:
                break
    model.train()
    return done / (time.perf_counter() - start)


def one_epoch_mse(model_name, train, test, seed):
    torch.manual_seed(seed)
    model = build(model_name)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8)
    order = np.random.default_rng(seed).permutation(len(train))
    for i in range(0, len(train), 256):
        x = torch.from_numpy(train[order[i:i + 256]])
        optimizer.zero_grad(set_to_none=True)
        loss_of(model, x).backward()
        optimizer.step()
    with torch.no_grad():
        model.eval()
        x = torch.from_numpy(test)
        return float(((model(x) - x) ** 2).mean())


def matmul_gflops(threads, size=1024, seconds=2.0):
    """The machine's f32 matrix-multiply rate through PyTorch (MKL), on `threads` threads: the
    median of repeated size³ products, in GFLOP/s."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 5:
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * size**3 / statistics.median(times) / 1e9


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=sorted(MODELS))
    parser.add_argument("--matmul-rate", action="store_true",
                        help="print the machine's f32 matrix-multiply rate instead")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--infer-seconds", type=float, default=2.0)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.matmul_rate:
        print(json.dumps({"impl": "matmul", "threads": args.threads,
                          "gflops": matmul_gflops(args.threads)}))
        return
    if args.model is None:
        parser.error("--model is required")

    torch.set_num_threads(args.threads)
    train, test = load(args.data, "train"), load(args.data, "test")
    torch.manual_seed(args.seed)
    model = build(args.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8)
    train_steps(model, optimizer, train, args.warmup)
    step_ms = statistics.median(train_steps(model, optimizer, train, args.steps))
    infer = {str(b): inference(model, test, b, args.infer_seconds) for b in (1, 64, 1024)}
    mse = one_epoch_mse(args.model, train, test, args.seed)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "impl": "pytorch", "version": torch.__version__, "model": args.model,
        "threads": args.threads, "step_ms": step_ms, "infer_sps": infer,
        "test_mse_1epoch": mse, "peak_rss_mib": rss_mib,
    }))


if __name__ == "__main__":
    main()
