#!/usr/bin/env python3
"""precsweep.quantize on a 64 MiB float32 array against numpy's np.copyto of the same array
(the floor for any pass that reads and writes it), median of --repeats runs each:

    .venv/bin/python benchmarks/bench_python_quantize.py [--mib 64] [--repeats 15]

Prints one line per case: time, GB/s (bytes read + written), and the ratio copyto/quantize
(>= 0.5 is the target: docs/performance.md). Threads: OpenMP's default (OMP_NUM_THREADS).
Deliberately leaves out: anything but timing; correctness is python/tests/test_binding.py.
"""
import argparse
import os
import platform
import time

import numpy as np

import precsweep


def median_time(fn, repeats):
    fn()  # warm-up: page faults, thread pool
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mib", type=int, default=64)
    p.add_argument("--repeats", type=int, default=15)
    a = p.parse_args()
    n = a.mib * 2**20 // 4
    rng = np.random.default_rng(0)
    src = rng.standard_normal(n, dtype=np.float32)
    dst = np.empty_like(src)
    nbytes = 2 * src.nbytes
    base = median_time(lambda: np.copyto(dst, src), a.repeats)
    print(f"cpu: {platform.processor() or platform.machine()}, threads: "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')}, {a.mib} MiB, median of {a.repeats}")
    print(f"np.copyto                          {base * 1e3:7.2f} ms  {nbytes / base / 1e9:6.2f} GB/s")
    cases = [("bf16", "nearest_even", False), ("fp8-e4m3", "nearest_even", False),
             ("fp8-e4m3", "stochastic", False), ("fp8-e4m3", "nearest_even", True),
             ("fp16", "stochastic", True)]
    for fmt, mode, in_place in cases:
        if in_place:
            work = src.copy()
            fn = lambda: precsweep.quantize(work, fmt, mode, out=work)  # noqa: E731
        else:
            fn = lambda: precsweep.quantize(src, fmt, mode, out=dst)  # noqa: E731
        t = median_time(fn, a.repeats)
        label = f"quantize {fmt} {mode}{' in place' if in_place else ''}"
        print(f"{label:34s} {t * 1e3:7.2f} ms  {nbytes / t / 1e9:6.2f} GB/s  "
              f"copyto/quantize {base / t:5.2f}")


if __name__ == "__main__":
    main()
