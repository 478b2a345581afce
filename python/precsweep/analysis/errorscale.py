"""Error-scaling page (issue 8): reads the HDF5 file written by `precsweep errorscale --out`
(layout: docs/results-format.md, "Error-scaling file") and draws, for every quantity (z, a,
delta, dW) and layer, the measured relative error against mantissa bits on a log scale with the
fitted line log2(err) = a - b*m and the three bounds; plus the output error / changed-class
panel and the fit table.

    /usr/bin/python3 -m analysis.errorscale errors.h5 -o DIR     # DIR/errorscale.html
    from analysis.errorscale import load_errors, write_page, report_section

Standalone: the sweep report (analysis.report) does not link this page by itself; call
report_section(path, out_dir) to embed it. Exit codes: 0 written, 2 bad input.
Deliberately leaves out: fixed-point formats in the figures (no mantissa width).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import html
from .results import open_file

QUANTITIES = [("z", "pre-activations z"), ("a", "activations a (last: probabilities)"),
              ("delta", "deltas dL/dz"), ("dW", "weight gradients dL/dW")]
SERIES = ["rel", "worst", "amplification", "bound_det", "bound_prob", "bound_stored",
          "ratio_det", "ratio_prob", "ratio_stored", "residual", "used"]
DPI = 150


def load_errors(path):
    """Dict with 'attrs' (root attributes), 'formats' (DataFrame: name, man_bits, exp_bits, u,
    accuracy, changed_fraction) and per quantity a dict of arrays [F, L] plus 'fits'
    (DataFrame: layer, a, b, rms, max_residual, n, floor_rel). Raises ValueError if `path` is
    not an error-scaling file."""
    with open_file(path) as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        if attrs.get("kind") != "precsweep-errorscale":
            raise ValueError("not a precsweep error-scaling file (attribute kind is "
                             f"{attrs.get('kind')!r})")
        fg = f["formats"]
        formats = pd.DataFrame({
            "name": fg["name"].asstr()[:],
            "man_bits": fg["man_bits"][:], "exp_bits": fg["exp_bits"][:], "u": fg["u"][:],
            "accuracy": fg["accuracy"][:], "changed_fraction": fg["changed_fraction"][:]})
        out = {"attrs": attrs, "formats": formats}
        for q, _ in QUANTITIES:
            g = f[q]
            d = {s: g[s][:] for s in SERIES}
            d["fits"] = pd.DataFrame({
                "layer": np.arange(g["fit_b"].shape[0]), "a": g["fit_a"][:], "b": g["fit_b"][:],
                "rms": g["fit_rms"][:], "max_residual": g["fit_max_residual"][:],
                "n": g["fit_n"][:], "floor_rel": g["floor_rel"][:]})
            out[q] = d
    return out


def fit_table(data):
    """One row per quantity and layer: the fit and the largest measured/bound ratios."""
    rows = []
    for q, _ in QUANTITIES:
        d = data[q]
        for _, r in d["fits"].iterrows():
            layer = int(r["layer"])
            rows.append({"quantity": q, "layer": layer, "b (slope)": r["b"], "a": r["a"],
                         "rms residual": r["rms"], "points": int(r["n"]),
                         "fp32 floor": r["floor_rel"],
                         "max ratio det": np.nanmax(d["ratio_det"][:, layer]),
                         "max ratio prob": np.nanmax(d["ratio_prob"][:, layer]),
                         "max ratio stored": np.nanmax(d["ratio_stored"][:, layer]),
                         "median amplification": np.nanmedian(d["amplification"][:, layer])
                         if np.isfinite(d["amplification"][:, layer]).any() else np.nan})
    return pd.DataFrame(rows)


def _panel(ax, m, d, layer, title):
    rel = d["rel"][:, layer]
    used = d["used"][:, layer].astype(bool)
    pos = np.isfinite(rel) & (rel > 0)
    ax.semilogy(m[pos & used], rel[pos & used], "o", color="C0", ms=4, label="measured (fit)")
    ax.semilogy(m[pos & ~used], rel[pos & ~used], "o", mfc="none", color="C0", ms=4,
                label="measured (excluded)")
    worst = d["worst"][:, layer]
    wpos = np.isfinite(worst) & (worst > 0)
    ax.semilogy(m[wpos], worst[wpos], "x", color="C7", ms=3, label="worst sample")
    fit = d["fits"].iloc[layer]
    if np.isfinite(fit["b"]):
        mm = np.array([m.min(), m.max()], dtype=float)
        ax.semilogy(mm, 2.0 ** (fit["a"] - fit["b"] * mm), "-", color="C0", lw=1,
                    label=f"fit b={fit['b']:.2f}")
    for key, style, label in [("bound_det", "--", "bound gamma_n"),
                              ("bound_prob", "-.", "bound lambda sqrt(n) u"),
                              ("bound_stored", ":", "bound u (stored)")]:
        b = d[key][:, layer]
        ok = np.isfinite(b) & (b > 0)
        ax.semilogy(m[ok], b[ok], style, color={"bound_det": "C3", "bound_prob": "C1",
                                                  "bound_stored": "C2"}[key], lw=1, label=label)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("mantissa bits m")
    ax.grid(True, which="major", alpha=0.3)


def _floating(data):
    fm = data["formats"]
    return np.flatnonzero(fm["man_bits"].to_numpy() >= 0)


def figure_errors(data, out_dir, name="errorscale_layers.png"):
    """Grid: rows = quantities, columns = layers. Returns the file name."""
    keep = _floating(data)
    m = data["formats"]["man_bits"].to_numpy()[keep]
    L = data["z"]["rel"].shape[1]
    fig = Figure(figsize=(3.4 * L, 2.9 * len(QUANTITIES)), layout="constrained")
    axes = fig.subplots(len(QUANTITIES), L, squeeze=False)
    for row, (q, label) in enumerate(QUANTITIES):
        d = {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in data[q].items()}
        for layer in range(L):
            _panel(axes[row, layer], m, d, layer, f"{label}, layer {layer}")
        axes[row, 0].set_ylabel("relative error")
    axes[0, 0].legend(fontsize=6, loc="lower left")
    fig.savefig(os.path.join(out_dir, name), dpi=DPI)
    return name


def figure_output(data, out_dir, name="errorscale_output.png"):
    keep = _floating(data)
    fm = data["formats"].iloc[keep]
    m = fm["man_bits"].to_numpy()
    L = data["a"]["rel"].shape[1]
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    rel = data["a"]["rel"][keep, L - 1]
    ok = rel > 0
    ax1.semilogy(m[ok], rel[ok], "o-", ms=4, label="output probabilities")
    u = fm["u"].to_numpy()
    ax1.semilogy(m, u, ":", color="k", lw=1, label="unit roundoff u")
    ax1.set_xlabel("mantissa bits m")
    ax1.set_ylabel("relative error")
    ax1.legend(fontsize=7)
    ax1.grid(True, alpha=0.3)
    ax2.plot(m, fm["changed_fraction"].to_numpy(), "o-", ms=4, label="changed class")
    ax2.plot(m, 1 - fm["accuracy"].to_numpy(), "s-", ms=3, label="test error")
    ax2.set_xlabel("mantissa bits m")
    ax2.set_ylabel("fraction of samples")
    ax2.legend(fontsize=7)
    ax2.grid(True, alpha=0.3)
    fig.savefig(os.path.join(out_dir, name), dpi=DPI)
    return name


def report_section(path, out_dir):
    """Draws the figures and CSVs into out_dir and returns the HTML section (for embedding in
    a report page)."""
    data = load_errors(path)
    os.makedirs(out_dir, exist_ok=True)
    a = data["attrs"]
    layers_png = figure_errors(data, out_dir)
    output_png = figure_output(data, out_dir)
    table = fit_table(data)
    table.to_csv(os.path.join(out_dir, "errorscale_fits.csv"), index=False)
    rows = []
    fm = data["formats"]
    for q, _ in QUANTITIES:
        for f in range(len(fm)):
            for layer in range(data[q]["rel"].shape[1]):
                rows.append({"quantity": q, "format": fm["name"][f], "man_bits": fm["man_bits"][f],
                             "u": fm["u"][f], "layer": layer,
                             **{s: data[q][s][f, layer] for s in SERIES}})
    pd.DataFrame(rows).to_csv(os.path.join(out_dir, "errorscale_points.csv"), index=False)
    desc = (f"Network {html.escape(str(a.get('layer_sizes')))} "
            f"{html.escape(str(a.get('activation', '')))} from "
            f"<code>{html.escape(os.path.basename(str(a.get('weights_file', ''))))}</code>, "
            f"{a.get('samples')} samples, rounding {html.escape(str(a.get('rounding')))}, "
            f"applied to {html.escape(str(a.get('apply_to')))}; reference: "
            f"{html.escape(str(a.get('reference')))} (accuracy {a.get('reference_accuracy', 0):.4f}).")
    return (
        "<h2>Error scaling</h2>\n"
        f"<p>{desc} Filled dots enter the fit log2(err) = a - b*m; hollow dots are saturated "
        f"(error >= {a.get('saturation')}), at or below {a.get('floor_factor')} x the fp32 floor, "
        "or zero. Bounds: gamma_n (deterministic, inner product in the format), "
        f"lambda*sqrt(n)*u with lambda = {a.get('lambda')} (Higham-Mary), and u (rigorous for "
        "rounding of stored values with exact accumulation). See docs/theory.md.</p>\n"
        f"<figure><img src='{layers_png}' alt='error vs mantissa bits per layer'>"
        "<figcaption>Relative error per layer against mantissa bits. "
        "<a href='errorscale_points.csv'>data (CSV)</a></figcaption></figure>\n"
        f"<figure><img src='{output_png}' alt='output error and changed classes'>"
        "<figcaption>Output probabilities' relative error, fraction of changed predicted "
        "classes and test error.</figcaption></figure>\n"
        "<h3>Fits and bound ratios</h3><p>Slope b in bits of error per mantissa bit (1 expected);"
        " max ratio = largest measured / bound over formats (<= 1: the bound held). "
        "<a href='errorscale_fits.csv'>data (CSV)</a></p>" + html.table(table))


def write_page(path, out_dir):
    """Writes out_dir/errorscale.html (+ PNGs, CSVs); returns its path."""
    section = report_section(path, out_dir)
    return html.write_page(os.path.join(out_dir, "errorscale.html"),
                           "precsweep error scaling", section)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m analysis.errorscale",
                                     description="Error-scaling page of a precsweep errors file")
    parser.add_argument("errors", help="file written by `precsweep errorscale --out`")
    parser.add_argument("-o", "--out", default="errorscale", help="output folder")
    args = parser.parse_args(argv)
    try:
        index = write_page(args.errors, args.out)
    except (FileNotFoundError, ValueError, OSError, KeyError) as e:
        print(f"errorscale: error: {args.errors}: {e}", file=sys.stderr)
        return 2
    print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
