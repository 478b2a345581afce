#!/usr/bin/env python3
"""LeNet-5 on MNIST in PyTorch with precsweep's exact FP8 formats ("fp8-hybrid" roles):
weights and activations are rounded to fp8-e4m3 in the forward pass, errors (the gradients
flowing backwards) to fp8-e5m2, by custom autograd functions calling precsweep.quantize. The
master weights and the optimizer stay in float32, and the loss is scaled by a constant so
that small errors are not flushed to zero in e5m2 (loss scaling, as FP8 training does).

    python3 examples/torch_lenet_fp8.py                  # 300 steps, prints test accuracy
    python3 examples/torch_lenet_fp8.py --steps 100 --check  # the test: exit 1 unless it learns

Needs: pip install . (precsweep), numpy, torch (Debian: python3-torch), MNIST in data/mnist
(scripts/setup) or --data-dir. Deliberately leaves out: torchvision (the IDX files are read
directly), GPUs (precsweep.quantize works on CPU memory), and rounding the accumulations
inside conv/matmul (they run in float32, as on FP8 hardware with wide accumulators).
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import precsweep

FORWARD = "fp8-e4m3,saturate"   # weights and activations (OCP E4M3: max 448, no inf)
BACKWARD = "fp8-e5m2,saturate"  # errors: more range, less precision


def rounded(t, fmt):
    """t rounded into fmt (nearest even), a new tensor; exactly precsweep's bits."""
    src = t.detach().contiguous()
    out = torch.empty_like(src)
    precsweep.quantize(src.numpy(), fmt, "nearest_even", out=out.numpy())
    return out


class Round(torch.autograd.Function):
    """Identity that rounds values to `fwd` on the way forward and errors to `bwd` on the way
    back (the straight-through estimator for the rounding itself)."""

    @staticmethod
    def forward(ctx, x, fwd, bwd):
        ctx.bwd = bwd
        return rounded(x, fwd)

    @staticmethod
    def backward(ctx, grad):
        return rounded(grad, ctx.bwd), None, None


def q(x):
    return Round.apply(x, FORWARD, BACKWARD)


class LeNet5(torch.nn.Module):
    """conv 5x5 (6) - pool - conv 5x5 (16) - pool - 120 - 84 - 10, ReLU; every layer's weights
    and output pass through q()."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = torch.nn.Conv2d(6, 16, 5)
        self.f1 = torch.nn.Linear(400, 120)
        self.f2 = torch.nn.Linear(120, 84)
        self.f3 = torch.nn.Linear(84, 10)

    def forward(self, x):
        x = q(x)
        x = F.max_pool2d(F.relu(q(F.conv2d(x, q(self.c1.weight), q(self.c1.bias), padding=2))), 2)
        x = F.max_pool2d(F.relu(q(F.conv2d(x, q(self.c2.weight), q(self.c2.bias)))), 2)
        x = x.flatten(1)
        x = F.relu(q(F.linear(x, q(self.f1.weight), q(self.f1.bias))))
        x = F.relu(q(F.linear(x, q(self.f2.weight), q(self.f2.bias))))
        return q(F.linear(x, q(self.f3.weight), q(self.f3.bias)))


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_mnist(folder):
    def part(images, labels):
        x = read_idx(os.path.join(folder, images)).astype(np.float32) / 255.0
        return torch.from_numpy(x[:, None]), torch.from_numpy(read_idx(os.path.join(folder, labels)).astype(np.int64))
    return (part("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            part("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default_data = os.path.join(os.environ.get("PRECSWEEP_DATA_DIR", os.path.join(here, "..", "data")), "mnist")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300, help="SGD steps (batches)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--loss-scale", type=float, default=1024.0)
    p.add_argument("--eval", type=int, default=10000, help="test images to evaluate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=default_data)
    p.add_argument("--check", action="store_true",
                   help="exit 1 unless the loss fell and test accuracy beats chance by far")
    a = p.parse_args(argv)
    for f in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        if not os.path.exists(os.path.join(a.data_dir, f)):
            sys.exit(f"torch_lenet_fp8: {a.data_dir}/{f} not found; run scripts/setup or pass --data-dir")
    torch.manual_seed(a.seed)
    (xtr, ytr), (xte, yte) = load_mnist(a.data_dir)
    model = LeNet5()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    order = torch.randperm(len(xtr), generator=torch.Generator().manual_seed(a.seed))
    losses, start = [], time.time()
    for step in range(a.steps):
        idx = order[(step * a.batch) % len(xtr):][:a.batch]
        loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
        opt.zero_grad()
        (loss * a.loss_scale).backward()
        for prm in model.parameters():
            prm.grad /= a.loss_scale
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}: loss {np.mean(losses[-50:]):.4f}", flush=True)
    with torch.no_grad():
        pred = torch.cat([model(xte[i:i + 1000]).argmax(1) for i in range(0, a.eval, 1000)])
    acc = (pred == yte[:len(pred)]).float().mean().item()
    k = max(1, min(10, a.steps // 4))
    first, last = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
    print(f"fp8 LeNet-5 ({FORWARD} forward, {BACKWARD} errors): {a.steps} steps in "
          f"{time.time() - start:.1f} s, loss {first:.3f} -> {last:.3f}, "
          f"test accuracy {acc:.4f} on {len(pred)} images")
    if a.check and not (last < 0.8 * first and acc > 0.5):
        print("torch_lenet_fp8: check failed (loss must fall by 20% and accuracy exceed 0.5)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
