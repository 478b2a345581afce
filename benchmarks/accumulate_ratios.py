#!/usr/bin/env python3
"""Issue 18's speed target, measured: each accumulation case of bench_accumulate against
cblas_sgemm of the same shape, in one process, with the repetitions of all cases interleaved
in random order (so that a slow spell of a shared machine hits every case alike). Prints, per
case, the fastest and the median CPU time and their ratios to sgemm's (the target: at most 6x,
1 thread, docs/performance.md "Accumulation").

Usage: benchmarks/accumulate_ratios.py [build/benchmarks/bench_accumulate] [FILTER] [REPS]
Deliberately leaves out: correctness (tests/test_accumulate.cpp)."""
import collections
import json
import re
import statistics
import subprocess
import sys

exe = sys.argv[1] if len(sys.argv) > 1 else "build/benchmarks/bench_accumulate"
flt = sys.argv[2] if len(sys.argv) > 2 else "."
reps = sys.argv[3] if len(sys.argv) > 3 else "15"
out = subprocess.run([exe, f"--benchmark_filter={flt}", f"--benchmark_repetitions={reps}",
                      "--benchmark_min_time=0.03", "--benchmark_enable_random_interleaving=true",
                      "--benchmark_format=json"], capture_output=True, text=True, check=True).stdout
times = collections.defaultdict(list)  # case -> CPU times (ns)
for b in json.loads(out)["benchmarks"]:
    if b.get("run_type") == "iteration":
        times[b["run_name"]].append(b["cpu_time"])
shape = lambda name: re.search(r"kind:\d/in:\d+/out:\d+", name).group(0)
sgemm = {shape(n): t for n, t in times.items() if n.startswith("BM_sgemm/")}
print(f"{'case':55s} {'min us':>9s} {'x':>7s} {'median us':>10s} {'x':>7s}")
for name, t in sorted(times.items()):
    s = sgemm[shape(name)]
    lo, med = min(t), statistics.median(t)
    print(f"{name:55s} {lo / 1e3:9.1f} {lo / min(s):7.2f} {med / 1e3:10.1f} {med / statistics.median(s):7.2f}")
