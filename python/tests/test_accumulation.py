"""precsweep.analysis.accumulation (issue 18): the measured accumulation error against gamma_n.

Pinned sums whose errors are known exactly (4096 ones in E5M10 stop at 2048; chunks of 64 reach
4096; the fp32 row is the sequential sum, not BLAS's), the bound gamma_n as a theorem on data
shaped like MNIST's first layer (every mode, with and without chunks, per element with its count
of nonzero products), its tightness on a worst case built for it, the fitted growth with n on
constructed sums (worst case: slope 1; random positive terms: 0.5, random signs: 0), and the
command on a network trained by `precsweep train --save-weights` (exit 2 on bad input, no
overwrite). Everything is deterministic (fixed seeds, the kernel's results do not depend on the
thread count), so the tolerances below are margins around fixed numbers, not luck."""
import csv
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from precsweep.analysis import accumulation as acc


def column(values):
    return np.ascontiguousarray(np.asarray(values, np.float32).reshape(-1, 1))


def test_ones_stagnate_in_e5m10_and_chunks_recover_them():
    x = np.ones((1, 4096), np.float32)
    res = acc.measure(x, column(np.ones(4096)), "E5M10", [4096])[4096]
    assert res["z"][0, 0] == 2048                      # 2048 + 1 is a tie, to even: stuck
    assert res["err"].tolist() == [0.5]                # (4096 - 2048) / 4096
    chunked = acc.measure(x, column(np.ones(4096)), "E5M10,chunk=64", [4096])[4096]
    assert chunked["z"][0, 0] == 4096 and chunked["err"].tolist() == [0.0]
    # The prefixes are separate sums: 1024 ones are still exact in E5M10 (11 bits).
    short = acc.measure(x, column(np.ones(4096)), "E5M10", [1024, 2048, 4096])
    assert [short[n]["z"][0, 0] for n in (1024, 2048, 4096)] == [1024, 2048, 2048]


def test_fp32_row_is_the_sequential_sum_not_blas():
    """2^24 + 1 is a tie that rounds back to 2^24, so the sequential fp32 sum of 2^24 and 63
    ones is 2^24 whatever order BLAS would take; the 'blas' row is numpy's own matmul."""
    x = np.array([[2.0 ** 24] + [1.0] * 63], np.float32)
    res = acc.measure(x, column(np.ones(64)), "E8M23", [64])[64]
    assert res["z"][0, 0] == 2.0 ** 24
    assert res["err"][0] == pytest.approx(63 / (2.0 ** 24 + 63), rel=1e-12)
    blas = acc.measure(x, column(np.ones(64)), "blas", [64])[64]
    assert blas["z"][0, 0] == (x @ np.ones((64, 1), np.float32))[0, 0]


def mnist_like(samples=400, k=784, out=32, seed=3):
    """Inputs in [0, 1] on the 1/255 grid with 80% zeros, weights ~ N(0, 0.05^2) in binary32."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(1, 256, (samples, k)) * (rng.random((samples, k)) < 0.2)
    x = pixels.astype(np.float32) / np.float32(255)
    w_t = (0.05 * rng.standard_normal((k, out))).astype(np.float32)
    return x, w_t


def test_max_error_never_exceeds_gamma_n():
    x, w_t = mnist_like()
    configs = acc.accumulators([3, 5, 8, 11], [4, 9], [0, 16, 64], "fp32") + \
        acc.accumulators([6], [6], [16], "same")
    rows, _ = acc.analyse([(0, x, w_t)], configs, seed=5)
    assert len(rows) == len(configs) * len(acc.prefix_lengths(784))
    for r in rows:
        assert r["elements"] > 0
        # Per element with its count of nonzero products (the tighter bound) and with n.
        # (NaN: no finite bound, n u >= 1.)
        assert not r["max_over_gamma_nonzero"] > 1, r
        if math.isfinite(r["max_over_gamma"]):
            assert r["max_over_gamma"] <= r["max_over_gamma_nonzero"] + 1e-12, r
    # The per-element bound uses the right u: stochastic rounding's error reaches beyond
    # half an ulp (it would exceed gamma with u = 2^-(m+1)), nearest's never does.
    stoch = [r for r in rows if r["mode"] == "stochastic" and r["chunk"] == 0 and r["n"] == 16]
    assert max(r["max_over_gamma_nonzero"] for r in stoch) > 0.5
    # Directed modes measured directly: u = 2^-m.
    products = acc.exact_products(x, w_t, [64, 784])
    for mode in ("up", "down", "toward_zero"):
        for m in (4, 10):
            res = acc.measure(x, w_t, f"E8M{m}:{mode}", [64, 784], products=products)
            for n, r in res.items():
                bound = acc.bound(n, 2.0 ** -m, nonzero=r["nonzero"])
                assert np.all(r["err"] <= bound), (mode, m, n)


def worst_case(n_max, m):
    """1 followed by terms just below half an ulp of 1 in E8M<m>: each is lost under
    nearest_even, so the error after n terms is (n-1) t, t = 2^-(m+1) (1 - 2^-10)."""
    t = 2.0 ** -(m + 1) * (1 - 2.0 ** -10)
    return np.array([[1.0] + [t] * (n_max - 1)], np.float32), column(np.ones(n_max))


def test_worst_case_reaches_gamma_n_and_grows_like_n():
    m = 16
    x, w = worst_case(784, m)
    rows, fits = acc.analyse([(0, x, w)], acc.accumulators([m], [], [0], "fp32")[:1])
    u = 2.0 ** -(m + 1)
    for r in rows:
        t = u * (1 - 2.0 ** -10)
        assert r["max_err_u"] * u == pytest.approx((r["n"] - 1) * t / (1 + (r["n"] - 1) * t),
                                                   rel=1e-9)
    assert 0.95 < rows[-1]["max_over_gamma"] <= 1      # the bound is nearly attained at n = 784
    assert 0.98 < fits[0]["slope_mean"] < 1.05         # 1.015 from (n - 1) / n: growth like n
    # With chunks of 64 into fp32 the worst case stops growing after one chunk.
    rows, fits = acc.analyse([(0, x, w)], acc.accumulators([m], [], [64], "fp32")[:1])
    assert abs(fits[0]["slope_mean_n_ge_chunk"]) < 0.05
    assert rows[-1]["max_err_u"] < 64
    # ... and its bound is gamma_64 (+ the fp32 outer sum's), nearly attained, not gamma_784.
    assert 0.95 < rows[-1]["max_over_gamma"] <= 1


def random_sums(signs, samples=2000, k=784, seed=11):
    rng = np.random.default_rng(seed)
    x = rng.random((samples, k)).astype(np.float32)
    if signs:
        x *= rng.choice(np.array([-1, 1], np.float32), (samples, k))
    return x, column(np.ones(k))


@pytest.mark.parametrize("mode", ["nearest_even", "stochastic"])
def test_random_positive_terms_grow_like_sqrt_n(mode):
    """Partial sums ~ k/2, rounding errors independent and of size u k / 2: the error grows
    like n^1.5 u, the normalised error (over sum|x_k| ~ n/2) like sqrt(n) u."""
    x, w = random_sums(signs=False)
    configs = acc.accumulators([10] if mode == "nearest_even" else [],
                               [10] if mode == "stochastic" else [], [0], "fp32")[:1]
    _, fits = acc.analyse([(0, x, w)], configs, seed=2)
    assert 0.4 < fits[0]["slope_mean"] < 0.6, fits[0]


def test_random_signs_do_not_grow():
    """Partial sums of random signs ~ sqrt(k): the error ~ u n, sum|x_k| ~ n, so the
    normalised error stays about u (what gamma_n bounds is far from what such sums reach)."""
    x, w = random_sums(signs=True)
    _, fits = acc.analyse([(0, x, w)], acc.accumulators([10], [], [0], "fp32")[:1])
    assert abs(fits[0]["slope_mean"]) < 0.15, fits[0]


def test_fit_slope():
    n = np.array([16, 32, 64, 128])
    assert acc.fit_slope(n, 3.0 * n) == pytest.approx(1)
    assert acc.fit_slope(n, np.sqrt(n)) == pytest.approx(0.5)
    assert acc.fit_slope(n, [0, 0, 0, 1]) != acc.fit_slope(n, [0, 0, 0, 1])   # NaN: one point


def mnist_dir():
    src = os.environ.get("PRECSWEEP_SOURCE_DIR",
                         os.path.join(os.path.dirname(__file__), "..", ".."))
    data = os.environ.get("MNIST_DIR", os.path.join(src, "data", "mnist"))
    if not os.path.exists(os.path.join(data, "t10k-images-idx3-ubyte")):
        pytest.skip("MNIST not in data/mnist (scripts/setup)")
    return data


def run(*args):
    return subprocess.run([sys.executable, "-m", "precsweep.analysis.accumulation", *args],
                          capture_output=True, text=True, timeout=600)


def test_command_on_a_trained_network(binary, tmp_path):
    data = mnist_dir()
    net = tmp_path / "net.h5"
    subprocess.run([binary, "train", "--data-dir", data, "--hidden", "12", "--epochs", "1",
                    "--save-weights", "--out", str(net)], check=True, capture_output=True)
    out = tmp_path / "acc"
    args = [str(net), "--data-dir", data, "-o", str(out), "--samples", "100",
            "--mantissas", "4,10", "--stochastic", "8", "--chunks", "0,64"]
    r = run(*args)
    assert r.returncode == 0, r.stderr
    with open(out / "accumulation_points.csv") as f:
        rows = list(csv.DictReader(f))
    # Layer 0: n = 16 .. 512, 784; layer 1: 12 alone. Accumulators: 2 x 2 + 1 x 2 + E8M23 + blas.
    assert len(rows) == 8 * (7 + 1)
    assert {r["accumulator"] for r in rows} == {"E8M4", "E8M10", "E8M8", "E8M23", "blas"}
    def num(text):                  # the CSV writes NaN (no finite bound) as an empty field
        return float(text or "nan")
    assert not any(num(r["max_over_gamma_nonzero"]) > 1 for r in rows)
    assert sum(math.isfinite(num(r["max_over_gamma"])) for r in rows) > 40
    e4 = [float(r["mean_err_u"]) for r in rows if r["accumulator"] == "E8M4"
          and r["chunk"] == "0" and r["layer"] == "0"]
    assert e4[-1] > e4[0]                                  # longer sums, larger errors
    assert (out / "accumulation.png").stat().st_size > 1000
    assert os.path.getsize(out / "accumulation_fits.csv") > 0
    # Never overwritten: a second run into the same folder is refused, files untouched.
    before = (out / "accumulation_points.csv").read_bytes()
    again = run(*args)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "exists" in again.stderr
    assert (out / "accumulation_points.csv").read_bytes() == before


def test_bad_input_is_one_line_and_exit_2(binary, tmp_path):
    data = mnist_dir()
    missing = run(str(tmp_path / "none.h5"), "--data-dir", data, "-o", str(tmp_path / "a"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "no such results file" in missing.stderr
    plain = tmp_path / "plain.h5"        # a real results file, trained without --save-weights
    subprocess.run([binary, "train", "--data-dir", data, "--hidden", "4", "--epochs", "1",
                    "--out", str(plain)], check=True, capture_output=True)
    r = run(str(plain), "--data-dir", data, "-o", str(tmp_path / "b"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--save-weights" in r.stderr
    not_h5 = tmp_path / "text.h5"
    not_h5.write_text("not hdf5\n")
    r = run(str(not_h5), "--data-dir", data, "-o", str(tmp_path / "c"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    r = run(str(plain), "--data-dir", str(tmp_path), "-o", str(tmp_path / "d"), "--mantissas", "x")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--mantissas" in r.stderr
    r = run(str(plain), "--data-dir", data, "-o", str(tmp_path / "e"), "--outer", "E5M2:sideways",
            "--chunks", "16")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "sideways" in r.stderr
    assert not any((tmp_path / d).exists() for d in "abcde")
