#!/usr/bin/python3
"""PyTorch peer for benchmarks/bench_train: the same MLP (784-100-10 by default, sigmoid), the
same init (Glorot/Xavier uniform for sigmoid/tanh, He uniform for relu, zero biases), plain SGD,
the same batch size and thread count, on the same MNIST IDX files. Prints seconds per epoch (the
training pass, and training plus the test-set evaluation, which is what `precsweep train`'s epoch
time covers; wall and process CPU time) and the test accuracy.

Needs Debian's python3-torch (installed only for benchmarking, not by scripts/setup).
Deliberately leaves out: GPUs, data loaders, anything PyTorch would not do by default on CPU.

    /usr/bin/python3 benchmarks/torch_peer.py   # Debian python, where python3-torch lives --data-dir data/mnist --threads 1 --epochs 1
"""
import argparse
import gzip
import math
import os
import struct
import time

import torch


def read_idx(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            opener = gzip.open if candidate.endswith(".gz") else open
            with opener(path, "rb") as f:
                data = f.read()
            rank = data[3]
            dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
            body = bytearray(data[4 + 4 * rank:])
            return torch.frombuffer(body, dtype=torch.uint8).reshape(dims)
    raise SystemExit(f"torch_peer: {name} not found in {folder} (run scripts/setup)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="data/mnist")
    ap.add_argument("--hidden", default="100")
    ap.add_argument("--activation", default="sigmoid", choices=["sigmoid", "tanh", "relu"])
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr = read_idx(a.data_dir, "train-images-idx3-ubyte").reshape(-1, 784).float() / 255.0
    ytr = read_idx(a.data_dir, "train-labels-idx1-ubyte").long()
    xte = read_idx(a.data_dir, "t10k-images-idx3-ubyte").reshape(-1, 784).float() / 255.0
    yte = read_idx(a.data_dir, "t10k-labels-idx1-ubyte").long()

    act = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[a.activation]
    sizes = [784] + [int(h) for h in a.hidden.split(",")] + [10]
    layers = []
    for i in range(len(sizes) - 1):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1])
        if a.activation == "relu":
            bound = math.sqrt(6.0 / sizes[i])
        else:
            bound = math.sqrt(6.0 / (sizes[i] + sizes[i + 1]))
        torch.nn.init.uniform_(lin.weight, -bound, bound)
        torch.nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i + 2 < len(sizes):
            layers.append(act())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    n = xtr.shape[0]
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        c0 = time.process_time()
        perm = torch.randperm(n)
        model.train()
        for i in range(0, n, a.batch):
            idx = perm[i:i + a.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        t1 = time.perf_counter()
        with torch.no_grad():
            model.eval()
            correct = 0
            for i in range(0, xte.shape[0], 256):
                correct += (model(xte[i:i + 256]).argmax(1) == yte[i:i + 256]).sum().item()
        t2 = time.perf_counter()
        c2 = time.process_time()
        acc = correct / xte.shape[0]
        print(f"epoch {epoch + 1} train_seconds={t1 - t0:.3f} epoch_seconds={t2 - t0:.3f} "
              f"epoch_cpu_seconds={c2 - c0:.3f} test_accuracy={acc:.4f}", flush=True)
    print(f"torch {torch.__version__} threads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
