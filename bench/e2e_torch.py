#!/usr/bin/env python3
"""The minimal PyTorch program doing what `hourglass train` does, for bench/e2e.sh.

Reads the Fashion-MNIST training images from their IDX file, scales them to [0, 1], holds out a
seeded 10 % for validation, trains the benchmark model (bench/torch_reference.py's, the same as
hourglass's) with Adam 1e-3 on shuffled batches of 256 and MSE, measures the validation loss after
every epoch, and saves the weights. Prints one JSON line: the time to the data being ready, then
per epoch the seconds in optimizer steps, in validation and in all.
"""
import argparse
import json
import os
import sys
import time

start = time.perf_counter()
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import MODELS, read_idx, step  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    images = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"))
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(x))
    held = round(0.1 * len(x))
    val, train = x[order[:held]], x[order[held:]]
    model = MODELS[args.model]()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8)
    ready = time.perf_counter() - start

    epochs = []
    for epoch in range(1, args.epochs + 1):
        began, steps = time.perf_counter(), 0.0
        shuffled = rng.permutation(len(train))
        for i in range(0, len(train), 256):
            batch = torch.from_numpy(train[shuffled[i:i + 256]])
            stepping = time.perf_counter()
            step(model, optimizer, batch)
            steps += time.perf_counter() - stepping
        validating = time.perf_counter()
        model.eval()
        with torch.no_grad():
            total = sum(float(((model(b) - b) ** 2).sum())
                        for b in torch.from_numpy(val).split(1024))
        model.train()
        epochs.append({
            "epoch": epoch, "val_loss": total / val.size,
            "seconds": time.perf_counter() - began, "step_seconds": steps,
            "validation_seconds": time.perf_counter() - validating,
        })
    saving = time.perf_counter()
    torch.save(model.state_dict(), args.out)
    print(json.dumps({
        "impl": "pytorch", "version": torch.__version__, "model": args.model,
        "ready_seconds": ready, "save_seconds": time.perf_counter() - saving, "epochs": epochs,
    }))


if __name__ == "__main__":
    main()
