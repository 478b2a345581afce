#!/usr/bin/python3
"""Compares a sweep results file written by a Slurm job chain with a plain mpirun run of the same
spec: same spec hash, same points, every point finished (none pending or failed), and every
/points and /results dataset identical except the timing and placement ones (wall_seconds,
epoch_seconds, rank). Prints one line per check; exits 1 on the first difference.
Usage: check_results.py CHAIN.h5 REFERENCE.h5 EXPECTED_RUNS
Deliberately leaves out: root attributes other than the spec hash (times, hosts, runs differ)."""
import sys

import h5py
import numpy as np

TIMING = {"results/wall_seconds", "results/epoch_seconds", "results/rank"}
PENDING, DONE, DIVERGED, FAILED = 0, 1, 2, 3


def datasets(f):
    names = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(names)


def fail(msg):
    print("check_results: FAIL: " + msg)
    sys.exit(1)


def main():
    chain_path, ref_path, expected_runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with h5py.File(chain_path, "r") as chain, h5py.File(ref_path, "r") as ref:
        if chain.attrs["spec_sha256"] != ref.attrs["spec_sha256"]:
            fail("spec hashes differ")
        status = chain["results/status"][:]
        counts = {s: int(np.sum(status == s)) for s in (PENDING, DONE, DIVERGED, FAILED)}
        print(f"check_results: {len(status)} points: done {counts[DONE]}, diverged "
              f"{counts[DIVERGED]}, failed {counts[FAILED]}, pending {counts[PENDING]}")
        if counts[PENDING] or counts[FAILED]:
            fail("points left pending or failed")
        runs = chain.attrs.get("runs")
        runs = int(np.asarray(runs).ravel()[0]) if runs is not None else -1
        print(f"check_results: the file records {runs} runs (expected {expected_runs}, one per job)")
        if runs != expected_runs:
            fail("number of runs recorded in the file differs from the number of jobs")
        names_chain, names_ref = datasets(chain), datasets(ref)
        if names_chain != names_ref:
            fail(f"dataset lists differ: {sorted(set(names_chain) ^ set(names_ref))}")
        compared = 0
        for name in names_chain:
            if name in TIMING:
                continue
            a, b = chain[name][()], ref[name][()]
            if a.shape != b.shape or a.dtype != b.dtype:
                fail(f"{name}: shape/dtype {a.shape} {a.dtype} vs {b.shape} {b.dtype}")
            equal_nan = a.dtype.kind in "fc"
            if not np.array_equal(a, b, equal_nan=equal_nan):
                bad = np.argwhere(a != b)[:5].tolist() if a.shape else []
                fail(f"{name} differs from the reference run (first indices {bad})")
            compared += 1
        print(f"check_results: {compared} datasets bit-identical to the plain mpirun run")


if __name__ == "__main__":
    main()
