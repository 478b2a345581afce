"""Accumulation error against gamma_n (issue 18): the forward error of a trained network's
matrix products when their additions round into an accumulator format (docs/accumulation.md),
as a function of the sum length n, the accumulator's mantissa width m and the chunk length c.

    python3 -m precsweep.analysis.accumulation run.h5 --data-dir data/mnist -o DIR
    from precsweep.analysis.accumulation import measure, analyse, fit_slope

For each layer, the products z = sum_k x_k w_k of the test images (first layer: pixels/255;
second layer: the reference network's sigmoid/tanh/relu outputs, rounded to binary32) are
cut to their first n terms in a fixed random order of the inputs (n = 16, 32, ..., fan-in) and
computed by precsweep.matmul (the sequential accumulator, never BLAS) with accumulator
E8M<m>[:mode][,chunk=c] (outer sum fp32 unless --outer). The reference is the same sum in
float64 of the binary32 operands: each product is exact in float64 and the sum's error is at
most gamma_n(2^-53) sum|x_k w_k| < 1e-13 sum|x_k w_k|, below 1e-9 u for every m <= 23 measured.
Per output element the normalised error

    e = |z_F - z| / sum_k |x_k w_k|

is what Higham's bound speaks about: e <= gamma_n = n u / (1 - n u) (u = 2^-(m+1) nearest,
2^-m other modes; chunks of c: gamma_min(n,c) + gamma_ceil(n/c)(u_out) (1 + gamma_min(n,c))),
a theorem as long as nothing under- or overflows (E8 formats have fp32's range). Per (layer,
accumulator, n) the CSV holds the mean and max of e over the elements, divided by u, those
bounds, and the largest e over the bound (max_over_gamma; max_over_gamma_nonzero with each
element's count of nonzero products in place of n: adding a zero rounds nothing), empty where
n u >= 1; per (layer, accumulator) the least-squares slope of log2(mean e / u) and log2(max e / u)
against log2 n: 1 is the worst case's growth, 0.5 the probabilistic sqrt(n) u of Higham and
Mary (2019), about 0 a sum whose terms cancel (the normalisation by sum|x_k w_k| then hides
growth of the absolute error). Outputs whose products are all zero (an image with no ink in
the first n pixels) are left out and counted. The row `blas` is numpy's float32 matmul
(OpenBLAS sgemm: what the trainer computes for fp32 without chunks, in BLAS's own order); the
row `E8M23` is the sequential fp32 sum, which the trainer never uses without chunks.

Exit codes: 0 written, 2 bad input (one line on stderr), 1 other errors.
Deliberately leaves out: the backward products (their operands depend on a loss and a batch;
the forward sums already span n = 16..784), fixed-point accumulators (no mantissa width),
and a confidence bound for the probabilistic curve (sqrt(n) u is drawn with lambda = 1, the
typical size, as in docs/theory.md).
"""
from __future__ import annotations

import argparse
import io
import math
import os
import sys

import numpy as np

DEFAULT_MANTISSAS = list(range(3, 13))
DEFAULT_STOCHASTIC = [6, 10]
DEFAULT_CHUNKS = [0, 16, 64, 256]
POINT_COLUMNS = ("layer", "accumulator", "m", "mode", "chunk", "n", "u", "elements", "empty",
                 "mean_nonzero", "mean_err_u", "rms_err_u", "max_err_u", "gamma_u", "sqrt_n",
                 "max_over_gamma", "max_over_gamma_nonzero")
FILES = ("accumulation_points.csv", "accumulation_fits.csv", "accumulation.png")


class BadInput(ValueError):
    """Input the user can fix (missing file, no stored weights, bad option): exit 2."""


# ---------------------------------------------------------------------------------- inputs

def read_idx(path):
    """An IDX file (MNIST's format: magic 0 0 type dims, big-endian sizes) as a uint8 array."""
    if not os.path.isfile(path):
        raise BadInput(f"{path}: no such IDX file (run scripts/setup or pass --data-dir)")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise BadInput(f"{path}: not an IDX file of unsigned bytes")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    if len(data) != 4 + 4 * dims + math.prod(shape):
        raise BadInput(f"{path}: truncated IDX file (header says {shape})")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def test_images(data_dir, samples):
    """The first `samples` MNIST test images as binary32 features pixel / 255, exactly as the
    trainer forms them (pixel_feature in dataset.hpp), [samples, 784]."""
    pixels = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte"))
    pixels = pixels.reshape(pixels.shape[0], -1)[:samples]
    return pixels.astype(np.float32) / np.float32(255)


def load_network(path, point=None):
    """(sizes, activation, [W_l as [out, in] float32], [b_l]) of row `point` of a results file
    written with --save-weights (docs/results-format.md, "Stored weights")."""
    from .results import open_file
    if not os.path.isfile(path):
        raise BadInput(f"{path}: no such results file")
    try:
        f = open_file(path)
    except OSError as e:
        raise BadInput(f"{path}: not an HDF5 results file ({e})") from e
    with f:
        if not all(k in f for k in ("weights/params", "weights/count", "points/dataset",
                                    "points/hidden", "points/activation")):
            raise BadInput(f"{path}: no /weights in the file (train with --save-weights)")
        count = f["weights/count"][:]
        if point is None:
            if count.size != 1:
                raise BadInput(f"{path}: {count.size} points in the file; choose one with --point")
            point = 0
        if not 0 <= point < count.size:
            raise BadInput(f"{path}: --point {point} out of range (0..{count.size - 1})")
        if count[point] <= 0:
            raise BadInput(f"{path}: point {point} has no stored weights (not finished, or run "
                           f"without --save-weights)")
        dataset = f["points/dataset"].asstr()[point]
        if dataset not in ("mnist", "fashion-mnist"):
            raise BadInput(f"{path}: point {point} was trained on {dataset!r}; this analysis "
                           f"reads MNIST-shaped test images (784 inputs)")
        hidden = [int(h) for h in f["points/hidden"].asstr()[point].split(",") if h]
        activation = f["points/activation"].asstr()[point]
        flat = f["weights/params"][point, :count[point]]
    sizes = [784] + hidden + [10]
    W, b, off = [], [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W.append(flat[off:off + n_out * n_in].reshape(n_out, n_in))
        off += n_out * n_in
        b.append(flat[off:off + n_out])
        off += n_out
    if off != flat.size:
        raise BadInput(f"{path}: point {point} stores {flat.size} parameters, layers "
                       f"{sizes} need {off}")
    return sizes, activation, W, b


def activate(z, activation):
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if activation == "tanh":
        return np.tanh(z)
    if activation == "relu":
        return np.maximum(z, 0.0)
    raise BadInput(f"unknown activation {activation!r}")


# ---------------------------------------------------------------------------------- bounds

def gamma(n, u):
    """Higham's gamma_n = n u / (1 - n u); inf once n u >= 1 (no bound)."""
    nu = np.asarray(n, dtype=float) * u
    with np.errstate(divide="ignore"):
        return np.where(nu < 1, nu / np.where(nu < 1, 1 - nu, 1.0), np.inf)


def unit_roundoff(m, mode):
    """u of a float format with m fraction bits: half an ulp for nearest, one ulp otherwise."""
    return 2.0 ** -(m + 1) if mode.startswith("nearest") else 2.0 ** -m


def bound(n, u, chunk=0, u_out=2.0 ** -24, nonzero=None):
    """Worst-case normalised error of an n-term sequential sum (docs/accumulation.md):
    gamma_n(u) without chunks; with chunks of c, each run's sum is off by at most
    gamma_{min(c, n)}(u) times its sum of |terms|, and the outer recursive sum of ceil(n/c) run
    sums (each at most (1 + gamma_c) times its sum of |terms|) adds gamma_{ceil(n/c)}(u_out).
    Adding a zero product rounds nothing, so with `nonzero` (the count of nonzero products of
    an element) the inner count is at most that: a tighter bound per element."""
    n = np.asarray(n, dtype=float)
    inner = n if not chunk else np.minimum(n, chunk)
    if nonzero is not None:
        inner = np.minimum(inner, nonzero)
    if not chunk:
        return gamma(inner, u)
    g = gamma(inner, u)
    return g + gamma(np.ceil(n / chunk), u_out) * (1 + g)


def fit_slope(n, err):
    """Least-squares slope of log2(err) against log2(n) over the points with err > 0 (finite);
    NaN with fewer than 2 such points."""
    n, err = np.asarray(n, dtype=float), np.asarray(err, dtype=float)
    ok = np.isfinite(err) & (err > 0)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log2(n[ok]), np.log2(err[ok]), 1)[0])


# ---------------------------------------------------------------------------------- measure

def prefix_lengths(k, start=16):
    """16, 32, ... below k, then k itself."""
    ns, n = [], start
    while n < k:
        ns.append(n)
        n *= 2
    return ns + [k]


def exact_products(x, w_t, ns):
    """Per n: the operands' first n columns/rows (contiguous binary32), the float64 reference
    sum, sum|x_k w_k| and the count of nonzero products per output element."""
    out = {}
    for n in ns:
        xs, ws = np.ascontiguousarray(x[:, :n]), np.ascontiguousarray(w_t[:n])
        x64, w64 = xs.astype(np.float64), ws.astype(np.float64)
        nonzero = (xs != 0).astype(np.float64) @ (ws != 0).astype(np.float64)
        out[n] = dict(x=xs, w=ws, ref=x64 @ w64, abs=np.abs(x64) @ np.abs(w64), nonzero=nonzero)
    return out


def measure(x, w_t, accumulator, ns, seed=1, stream=0, products=None):
    """Normalised errors of the products x[:, :n] @ w_t[:n] in `accumulator` for each n.

    x [M, K], w_t [K, N] binary32 (the reduction runs over k in this order); accumulator is
    precsweep.matmul's text (docs/accumulation.md) or "blas" (numpy's float32 matmul). Returns
    {n: dict(err=normalised errors of the elements with sum|x_k w_k| > 0 (1-D float64),
    nonzero=their counts of nonzero products, z=the computed products [M, N], empty=number of
    elements whose products are all zero)}. Raises AssertionError if an all-zero product is
    not computed as exactly 0 (it is a sum of zeros)."""
    import precsweep
    products = products or exact_products(x, w_t, ns)
    result = {}
    for n in ns:
        p = products[n]
        if accumulator == "blas":
            z = p["x"] @ p["w"]
        else:
            z = precsweep.matmul(p["x"], p["w"], accumulator, seed=seed, stream=stream)
        live = p["abs"] > 0
        assert np.all(z[~live] == 0), "a sum of zero products is not 0"
        err = np.abs(z[live].astype(np.float64) - p["ref"][live]) / p["abs"][live]
        result[n] = dict(err=err, nonzero=p["nonzero"][live], z=z, empty=int((~live).sum()))
    return result


def accumulators(mantissas, stochastic, chunks, outer):
    """The list of (name, accumulator text, m, mode, chunk, u, u_out) to measure."""
    out_m, out_mode = outer_format(outer)
    configs = []
    for mode, ms in (("nearest_even", mantissas), ("stochastic", stochastic)):
        for m in ms:
            for c in chunks:
                o = f"E8M{m}:{mode}" if outer == "same" else outer
                text = f"E8M{m}:{mode}" + (f",chunk={c},outer={o}" if c else "")
                u_out = unit_roundoff(*((m, mode) if outer == "same" else (out_m, out_mode)))
                configs.append((f"E8M{m}", text, m, mode, c, unit_roundoff(m, mode), u_out))
    configs.append(("E8M23", "E8M23:nearest_even", 23, "nearest_even", 0, 2.0 ** -24, 2.0 ** -24))
    configs.append(("blas", "blas", 23, "blas", 0, 2.0 ** -24, 2.0 ** -24))
    return configs


def check_accumulators(configs):
    """Every accumulator text is one the kernel accepts (BadInput naming it otherwise), checked
    before anything is measured or written. Needs the compiled extension (ImportError)."""
    import precsweep
    one = np.ones(1, np.float32)
    for _, text, *_ in configs:
        if text != "blas":
            try:
                precsweep.dot(one, one, text)
            except ValueError as e:
                raise BadInput(f"accumulator {text!r}: {e}") from None


def outer_format(outer):
    """(m, mode) of the --outer accumulator: fp32, bf16, fp16 or E<e>M<m>[:mode]; 'same' is
    the inner format and mode (resolved per accumulator)."""
    if outer == "same":
        return 0, "nearest_even"
    fmt, _, mode = outer.partition(":")
    named = {"fp32": 23, "binary32": 23, "bf16": 7, "bfloat16": 7, "fp16": 10, "binary16": 10}
    if fmt in named:
        m = named[fmt]
    else:
        head, sep, tail = fmt.upper().partition("M")
        if not (sep and head.startswith("E") and head[1:].isdigit() and tail.isdigit()):
            raise BadInput(f"--outer {outer!r}: expected fp32, bf16, fp16, E<e>M<m>[:mode] "
                           f"or same")
        m = int(tail)
    return m, mode or "nearest_even"


def summary_row(err, nonzero, n, u, chunk, u_out):
    """Mean, rms and max of the normalised errors over u, and the largest error over the bound
    with n terms and over each element's bound with its nonzero count; NaN where there is no
    element or no finite bound (n u >= 1)."""
    if err.size == 0:
        return dict(elements=0, mean_nonzero=math.nan, mean_err_u=math.nan, rms_err_u=math.nan,
                    max_err_u=math.nan, gamma_u=float(bound(n, u, chunk, u_out)) / u,
                    max_over_gamma=math.nan, max_over_gamma_nonzero=math.nan)
    b = float(bound(n, u, chunk, u_out))
    b_nonzero = bound(n, u, chunk, u_out, nonzero=nonzero)
    finite = np.isfinite(b_nonzero)
    return dict(
        elements=int(err.size), mean_nonzero=float(nonzero.mean()),
        mean_err_u=float(err.mean() / u), rms_err_u=float(np.sqrt(np.mean(err ** 2)) / u),
        max_err_u=float(err.max() / u), gamma_u=b / u,
        max_over_gamma=float(err.max() / b) if math.isfinite(b) else math.nan,
        max_over_gamma_nonzero=float((err[finite] / b_nonzero[finite]).max())
        if finite.any() else math.nan)


def fit_row(rows, chunk):
    """Slopes of log2(mean e/u) and log2(max e/u) against log2 n over one accumulator's rows
    (for chunks also the mean's slope over n >= c), and the values at the longest sum."""
    n = [r["n"] for r in rows]
    tail = [r for r in rows if chunk and r["n"] >= chunk]
    return dict(
        slope_mean=fit_slope(n, [r["mean_err_u"] for r in rows]),
        slope_max=fit_slope(n, [r["max_err_u"] for r in rows]),
        slope_mean_n_ge_chunk=fit_slope([r["n"] for r in tail], [r["mean_err_u"] for r in tail]),
        mean_err_u_at_max_n=rows[-1]["mean_err_u"], max_err_u_at_max_n=rows[-1]["max_err_u"],
        max_over_gamma=float(np.nanmax([r["max_over_gamma"] for r in rows]))
        if any(math.isfinite(r["max_over_gamma"]) for r in rows) else math.nan)


def analyse(layers, configs, seed=1, progress=None):
    """Rows (one per layer, accumulator and n) and fits (one per layer and accumulator).

    layers: list of (layer index, x [M, K], w_t [K, N]) with the reduction already in the
    order to cut prefixes from; configs: accumulators() entries. Stochastic rounding uses
    stream = layer."""
    rows, fits = [], []
    for layer, x, w_t in layers:
        ns = prefix_lengths(x.shape[1])
        products = exact_products(x, w_t, ns)
        for name, text, m, mode, chunk, u, u_out in configs:
            if progress:
                progress(f"layer {layer} {text}")
            res = measure(x, w_t, text, ns, seed=seed, stream=layer, products=products)
            key = dict(layer=layer, accumulator=name, m=m, mode=mode, chunk=chunk)
            these = []
            for n in ns:
                row = dict(key, n=n, u=u, empty=res[n]["empty"], sqrt_n=math.sqrt(n),
                           **summary_row(res[n]["err"], res[n]["nonzero"], n, u, chunk, u_out))
                these.append({c: row[c] for c in POINT_COLUMNS})
            rows += these
            fits.append(dict(key, u=u, **fit_row(these, chunk)))
    return rows, fits


# ---------------------------------------------------------------------------------- outputs

def network_layers(W, b, activation, x, seed, layers=2):
    """(layer, x, w_t) of the first `layers` layers, the inputs of each in one fixed random
    order (numpy's default_rng(seed + layer)); later layers' inputs are the reference network's
    activations (float64, then binary32: the operands a trainer would hold)."""
    out, a = [], x
    for layer in range(min(layers, len(W))):
        order = np.random.default_rng(seed + layer).permutation(W[layer].shape[1])
        out.append((layer, np.ascontiguousarray(a[:, order]),
                    np.ascontiguousarray(W[layer][:, order].T)))
        z = a.astype(np.float64) @ W[layer].T.astype(np.float64) + b[layer]
        a = activate(z, activation).astype(np.float32)
    return out


def figure(rows, fits, path):
    """Four panels: mean (solid) and max (dotted) e/u against n without chunks for each m,
    layer 0 and layer 1; the chunk lengths at one width; the fitted slopes against m."""
    import pandas as pd
    from matplotlib.figure import Figure
    df, ft = pd.DataFrame(rows), pd.DataFrame(fits)
    fig = Figure(figsize=(11, 8), layout="constrained")
    axes = fig.subplots(2, 2)
    near = df[(df["mode"] == "nearest_even") & (df["chunk"] == 0) & (df["accumulator"] != "E8M23")]
    for ax, layer in ((axes[0, 0], 0), (axes[1, 0], 1)):
        d = near[near["layer"] == layer]
        if d.empty:
            ax.set_visible(False)
            continue
        for i, (m, g) in enumerate(d.groupby("m")):
            ax.loglog(g["n"], g["mean_err_u"], "o-", color=f"C{i % 10}", ms=3, lw=1, label=f"m={m}")
            ax.loglog(g["n"], g["max_err_u"], ":", color=f"C{i % 10}", lw=1)
        n = np.array(sorted(d["n"].unique()), dtype=float)
        ax.loglog(n, n, "k--", lw=1, label="n (gamma_n/u)")
        ax.loglog(n, np.sqrt(n), "k-.", lw=1, label="sqrt(n)")
        ax.set_title(f"layer {layer}: E8M<m> nearest, no chunks (solid mean, dotted max)",
                     fontsize=9)
        ax.set_xlabel("sum length n")
        ax.set_ylabel("normalised error / u")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    ax = axes[0, 1]
    d0 = df[(df["layer"] == 0) & df["mode"].isin(["nearest_even", "stochastic"])
            & (df["accumulator"] != "E8M23")]
    stoch_m = sorted(d0[d0["mode"] == "stochastic"]["m"].unique())
    m_pick = stoch_m[-1] if stoch_m else (sorted(d0["m"].unique())[len(d0["m"].unique()) // 2]
                                          if not d0.empty else None)
    for i, ((mode, chunk), g) in enumerate(d0[d0["m"] == m_pick].groupby(["mode", "chunk"])):
        ax.loglog(g["n"], g["mean_err_u"], "o-" if mode == "nearest_even" else "s--",
                  color=f"C{i % 10}", ms=3, lw=1, label=f"{mode} chunk {chunk or 'none'}")
    ax.set_title(f"layer 0: E8M{m_pick}, mean error / u by chunk length", fontsize=9)
    ax.set_xlabel("sum length n")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=6)
    ax = axes[1, 1]
    for i, ((layer, mode, chunk), g) in enumerate(
            ft[ft["mode"].isin(["nearest_even", "stochastic"]) & (ft["accumulator"] != "E8M23")]
            .groupby(["layer", "mode", "chunk"])):
        if chunk not in (0, 64):
            continue
        ax.plot(g["m"], g["slope_mean"], "o-" if mode == "nearest_even" else "s--", ms=3, lw=1,
                label=f"layer {layer} {mode} chunk {chunk or 'none'}")
    ax.axhline(1, color="k", ls="--", lw=1)
    ax.axhline(0.5, color="k", ls="-.", lw=1)
    ax.set_title("fitted slope of log2(mean error) against log2 n", fontsize=9)
    ax.set_xlabel("accumulator mantissa bits m")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6)
    # A palette PNG (64 colours) is a fifth of the RGB file's size: small enough to keep in docs.
    buf = io.BytesIO()
    fig.savefig(buf, dpi=100, format="png")
    from PIL import Image
    buf.seek(0)
    Image.open(buf).convert("RGB").quantize(colors=64).save(path, format="PNG", optimize=True)


def write_outputs(rows, fits, out_dir):
    """The two CSVs and the figure, each through a temporary name renamed when complete."""
    import pandas as pd
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, f) for f in FILES]
    writers = [lambda p: pd.DataFrame(rows).to_csv(p, index=False, float_format="%.6g"),
               lambda p: pd.DataFrame(fits).to_csv(p, index=False, float_format="%.4g"),
               lambda p: figure(rows, fits, p)]
    for path, write in zip(paths, writers):
        tmp = path + ".tmp" + os.path.splitext(path)[1]
        try:
            write(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return paths


def parse_list(text, option):
    """'3-12' or '3,5,8' (or '' for none) -> list of ints."""
    out = []
    try:
        for part in filter(None, text.split(",")):
            lo, sep, hi = part.partition("-")
            out += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    except ValueError:
        raise BadInput(f"{option} {text!r}: expected integers like 3-12 or 0,16,64") from None
    return out


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python3 -m precsweep.analysis.accumulation",
        description="Forward error of a trained network's products against gamma_n = n u and "
                    "sqrt(n) u, by accumulator mantissa width and chunk length (issue 18)")
    p.add_argument("weights", help="results file of `precsweep train --save-weights --out`")
    p.add_argument("--point", type=int, default=None, help="row of a file with several points")
    p.add_argument("--data-dir", default=os.path.join("data", "mnist"),
                   help="folder with t10k-images-idx3-ubyte (default data/mnist)")
    p.add_argument("-o", "--out", required=True, help="output folder (CSVs and figure)")
    p.add_argument("--samples", type=int, default=2000, help="test images (default 2000)")
    p.add_argument("--mantissas", default="3-12", help="E8M<m> accumulators, nearest_even")
    p.add_argument("--stochastic", default="6,10", help="E8M<m> accumulators, stochastic (m <= 19)")
    p.add_argument("--chunks", default="0,16,64,256", help="chunk lengths (0: none)")
    p.add_argument("--outer", default="fp32", help="outer accumulator of chunked sums, or 'same'")
    p.add_argument("--layers", type=int, default=2, help="first layers measured (default 2)")
    p.add_argument("--seed", type=int, default=1, help="input order and stochastic rounding")
    a = p.parse_args(argv)
    try:
        mantissas = parse_list(a.mantissas, "--mantissas")
        stochastic = parse_list(a.stochastic, "--stochastic")
        chunks = parse_list(a.chunks, "--chunks")
        if any(not 1 <= m <= 22 for m in mantissas) or any(not 1 <= m <= 19 for m in stochastic):
            raise BadInput("--mantissas must lie in 1..22 and --stochastic in 1..19")
        if any(c < 0 for c in chunks):
            raise BadInput("--chunks must be 0 (none) or positive")
        if a.samples < 1 or a.layers < 1:
            raise BadInput("--samples and --layers must be positive")
        existing = [f for f in FILES if os.path.exists(os.path.join(a.out, f))]
        if existing:
            raise BadInput(f"{os.path.join(a.out, existing[0])} exists; remove it or choose "
                           f"another -o (results are never overwritten)")
        configs = accumulators(mantissas, stochastic, chunks, a.outer)
        check_accumulators(configs)
        sizes, activation, W, b = load_network(a.weights, a.point)
        x = test_images(a.data_dir, a.samples)
    except BadInput as e:
        print(f"accumulation: error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"accumulation: error: {e}".replace("\n", " "), file=sys.stderr)
        return 1
    layers = network_layers(W, b, activation, x, a.seed, a.layers)
    def progress(text):
        print(f"accumulation: {text}", file=sys.stderr, flush=True)
    rows, fits = analyse(layers, configs, seed=a.seed, progress=progress)
    try:
        for path in write_outputs(rows, fits, a.out):
            print(path)
    except OSError as e:
        print(f"accumulation: error: writing {a.out}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
