"""Timing of the analysis on a large results file: `/usr/bin/python3 -m analysis.benchmark
[--points 100000]` writes a synthetic file in the engine's layout (docs/results-format.md) to
a temporary folder, then times load, curves, critical_bits and the full report (wall and CPU).
Recorded in docs/performance.md ("Analysis").

The file is synthetic on purpose: the numbers measure the analysis, not training, and a
100,000-point sweep cannot be run just to time a report. Tests never use it.
Deliberately leaves out: Google Benchmark (this is Python) and repeated runs / statistics.
"""
from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time

import h5py
import numpy as np

from .critical import critical_bits
from .report import write_report
from .results import OLD_LAYOUT_EPOCH_METRICS, curves, load



def write_synthetic(path, points, epochs=5, seed=0):
    """A results file with ~`points` points: 3 seeds x hidden x lr x batch x E3..E8 x M0..M23
    x 3 rounding modes (the product is cut to `points`), accuracy a logistic in mantissa bits."""
    rng = np.random.default_rng(seed)
    axes = [[1, 2, 3], ["100", "200,100", "50", "25", "400"], [0.01, 0.1, 0.5, 1.0],
            [16, 64, 256, 32], list(range(3, 9)), list(range(24)),
            ["toward_zero", "nearest_even", "stochastic"]]
    combos = list(itertools.islice(itertools.product(*axes), points))
    n = len(combos)
    cols = list(zip(*combos))
    with h5py.File(path, "w") as f:
        p = f.create_group("points")
        p["seed"] = np.array(cols[0], dtype=np.uint64)
        p["hidden"] = np.array(cols[1], dtype="S16")
        p["lr"] = np.array(cols[2], dtype=np.float64)
        p["batch"] = np.array(cols[3], dtype=np.int32)
        p["exp_bits"] = np.array(cols[4], dtype=np.int32)
        p["man_bits"] = np.array(cols[5], dtype=np.int32)
        p["format"] = np.array([f"E{e}M{m}" for e, m in zip(cols[4], cols[5])], dtype="S8")
        p["rounding"] = np.array(cols[6], dtype="S16")
        for name, value in (("dataset", "mnist"), ("activation", "sigmoid"),
                            ("lr_schedule", "constant"), ("apply_to", "weights")):
            p[name] = np.array([value] * n, dtype="S16")
        p["momentum"] = np.zeros(n)
        p["weight_decay"] = np.zeros(n)
        p["epochs"] = np.full(n, epochs, dtype=np.int32)
        p["every"] = np.ones(n, dtype=np.int32)
        p["master_weights"] = np.zeros(n, dtype=np.int8)
        p["is_baseline"] = np.zeros(n, dtype=np.int8)
        r = f.create_group("results")
        man = np.array(cols[5], dtype=float)
        acc = 0.9 / (1 + np.exp(-(man - 6))) + rng.normal(0, 0.01, n)  # [N]
        r["status"] = np.ones(n, dtype=np.int8)
        r["final_test_accuracy"] = acc
        for name in OLD_LAYOUT_EPOCH_METRICS:
            r[name] = acc[:, None] * np.linspace(0.5, 1, epochs)[None, :]  # [N, epochs]
        r["wall_seconds"] = np.ones(n)
        r["rank"] = np.zeros(n, dtype=np.int32)
        r["baseline_index"] = np.full(n, -1, dtype=np.int64)
        r["message"] = np.array([""] * n, dtype="S512")
    return n


def timed(label, fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    print(f"{label:<16} wall {time.perf_counter() - w:7.2f} s   CPU {time.process_time() - c:7.2f} s")
    return out


def main():
    parser = argparse.ArgumentParser(prog="python3 -m analysis.benchmark")
    parser.add_argument("--points", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.h5")
        n = write_synthetic(path, args.points)
        print(f"{n} points, file {os.path.getsize(path) / 1e6:.0f} MB")
        df = timed("load", lambda: load(path))
        timed("curves", lambda: curves(path))
        timed("critical_bits", lambda: critical_bits(df))
        timed("report", lambda: write_report(path, os.path.join(tmp, "report")))


if __name__ == "__main__":
    main()
