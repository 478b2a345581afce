"""Helpers shared by the report's figures: the Figure/Skip results, which points to plot, seed
bands, how a sweep's varying axes are laid out (lines, panels, averaged), and the marks every
accuracy figure carries (fp32 baseline, tolerance band, critical width, zoomed y-axis).

Layout rule (docs/analysis.md, "The report"): every axis the sweep varies is shown, never
silently averaged: one line per value of the `hue` axis, one panel per combination of the
`panel` axes while there are at most MAX_PANELS, and only what is left is averaged (the figure
says so in a note).
Deliberately leaves out: the figures themselves (figures.py) and HTML (html.py).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import matplotlib
import numpy as np
from matplotlib.figure import Figure as MplFigure

from .critical import setting_columns

DPI = 150
MAX_PANELS = 12
MAX_LINES = 8
CMAP = "viridis"
CHANCE = 0.1  # MNIST and Fashion-MNIST: 10 balanced classes


@dataclass
class Figure:
    title: str
    png: str                 # file name inside the report folder
    csv: str                 # the table behind the figure
    caption: str
    notes: list = field(default_factory=list)
    interactive: str = ""    # an HTML fragment (plotly) drawn above the PNG, if any


@dataclass
class Skip:
    title: str
    note: str


def usable(df):
    """Points with a result to plot: done or diverged (a diverged run without an accuracy
    counts as 0, as in critical_bits)."""
    d = df[df["status"].isin(["done", "diverged"])].copy()
    acc = d["final_test_accuracy"].astype(float)
    d["accuracy"] = acc.where(~((d["status"] == "diverged") & acc.isna()), 0.0)
    return d


def float_points(df):
    """Non-baseline points of a float format (E<e>M<m> or a named float)."""
    base = df["is_baseline"].astype(bool) if "is_baseline" in df else False
    return df[~base & df["kind"].isin(["float", "named"]) & df["exp_bits"].notna()
              & df["man_bits"].notna()]


def swept_settings(points):
    """Setting columns (critical.setting_columns) with more than one value among `points`."""
    return [c for c in setting_columns(points) if points[c].nunique(dropna=False) > 1]


def value_label(column, value):
    if isinstance(value, float):
        value = f"{value:g}"
    return f"{column}={value}"


def key_label(columns, key):
    return ", ".join(value_label(c, v) for c, v in zip(columns, key))


def colors(k):
    return matplotlib.colormaps[CMAP](np.linspace(0.0, 0.85, max(k, 1)))


def seed_band(data, by, value="accuracy"):
    """Mean over the non-`by` parameters per seed, then mean/min/max over seeds.
    Returns columns by + [mean, min, max, seeds]."""
    seed = ["seed"] if "seed" in data else []
    per_seed = data.groupby(by + seed, observed=True, dropna=False)[value].mean().reset_index()
    band = per_seed.groupby(by, observed=True, dropna=False)[value].agg(
        ["mean", "min", "max", "count"]).reset_index()
    return band.rename(columns={"count": "seeds"})


def save(fig, out_dir, name):
    # Constrained-layout figures are already tight; the rest are cropped on save.
    tight = None if fig.get_constrained_layout() else "tight"
    fig.savefig(os.path.join(out_dir, name), dpi=DPI, bbox_inches=tight)


def grid(n, ncols=3, size=(4.2, 3.4)):
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig = MplFigure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()[:n]


def panel_columns(points, candidates):
    """Greedily picks the swept setting columns to split panels by (rounding first, then the
    ones with fewest values) while the number of panels stays <= MAX_PANELS."""
    order = sorted(candidates, key=lambda c: (c != "rounding", points[c].nunique()))
    chosen, panels = [], 1
    for c in order:
        k = points[c].nunique(dropna=False)
        if panels * k <= MAX_PANELS:
            chosen.append(c)
            panels *= k
    return chosen, [c for c in candidates if c not in chosen]


@dataclass
class Layout:
    hue: str | None          # one line (or bar) per value
    panels: list             # one panel per combination of values
    averaged: list           # what is left: averaged, and said so in a note

    def notes(self):
        return [f"Averaged over: {', '.join(self.averaged)} (more than {MAX_PANELS} panels "
                "otherwise)."] if self.averaged else []


def layout(points, axes):
    """Lines for the axis the eye should compare (rounding if it varies, else the axis with
    fewest values, at most MAX_LINES), panels for the rest while they fit."""
    axes = [a for a in axes if points[a].nunique(dropna=False) > 1]
    fits = [a for a in axes if points[a].nunique(dropna=False) <= MAX_LINES]
    hue = None
    if fits:
        hue = "rounding" if "rounding" in fits else min(fits, key=lambda a: points[a].nunique())
    panels, averaged = panel_columns(points, [a for a in axes if a != hue])
    return Layout(hue, panels, averaged)


def groups(frame, columns):
    """[(key tuple, sub-frame)] per combination of `columns` (one group when empty)."""
    if not columns:
        return [((), frame)]
    out = []
    by = columns if len(columns) > 1 else columns[0]
    for key, g in frame.groupby(by, observed=True, dropna=False, sort=True):
        out.append((key if isinstance(key, tuple) else (key,), g))
    return out


# ---- reference marks -------------------------------------------------------------------------

# Parameters that describe the quantization, not the fp32 run: baselines do not vary with them.
POLICY_COLUMNS = {"rounding", "exp_bits", "man_bits", "apply_to", "every", "master_weights",
                  "master_copy",
                  "encoding", "format", "kind"}


def finished_baselines(df):
    """The finished fp32 baselines; without `baseline: true`, the grid's own fp32 points
    (E8M23 with subnormals rounds nothing, so those runs are fp32 runs)."""
    done = df["status"] == "done"
    if "is_baseline" in df and df["is_baseline"].astype(bool).any():
        return df[df["is_baseline"].astype(bool) & done]
    plain = done & df["format"].astype(str).isin(["E8M23", "fp32"])
    if "recipe" in df:  # a recipe rounds although the shorthand format is fp32
        plain &= df["recipe"].astype(str).isin(["none", "fp32", ""])
    for col in (c for c in df.columns if c.startswith("round_")):
        plain &= df[col].fillna("").astype(str) == ""
    return df[plain]


def baseline_for(df, columns, key):
    """Mean accuracy of the finished fp32 baselines that match `key` on the training
    parameters among `columns` (quantization parameters are ignored: one fp32 run serves
    every format and rounding mode). NaN when there is none."""
    b = finished_baselines(df)
    for c, v in zip(columns, key):
        if c in POLICY_COLUMNS or c not in b or b[c].nunique() < 2:
            continue
        b = b[b[c] == v]
    return float(b["final_test_accuracy"].mean()) if len(b) else np.nan


def y_window(values, references, tolerance):
    """The y-range that decides the answer: from a little below the tolerance band (at least
    eight tolerances, never below chance) to just above the best value. Without a reference,
    the data's own range."""
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    refs = np.asarray([r for r in references if np.isfinite(r)], dtype=float)
    top = max(values.max() if len(values) else 0.0, refs.max() if len(refs) else 0.0)
    if len(refs):
        low = refs.min() - max(8 * tolerance, 0.04)
    else:
        low = values.min() if len(values) else 0.0
    low = max(CHANCE - 0.02, min(low, top - 0.02))
    pad = max(0.15 * (top - low), 0.005)
    return max(CHANCE - 0.05, low - 0.5 * pad), min(1.0 + 0.005, top + pad)


def draw_reference(ax, base, tolerance, color="black", label=True):
    """fp32 baseline as a dashed line and the tolerance band [base - tolerance, base] shaded:
    a width whose mean lies in or above the band counts as within tolerance."""
    if not np.isfinite(base):
        return
    ax.axhline(base, color=color, ls="--", lw=1, label="fp32 baseline" if label else None)
    ax.axhspan(base - tolerance, base, color=color, alpha=0.08, lw=0,
               label=f"tolerance {tolerance:g}" if label else None)


def clip_below(ax, x, y, color):
    """Values under the zoomed y-range are drawn as triangles on its lower edge."""
    low = ax.get_ylim()[0]
    y = np.asarray(y, dtype=float)
    below = y < low
    if below.any():
        ax.plot(np.asarray(x)[below], np.full(below.sum(), low), "v", color=color, ms=5,
                clip_on=False)
    return int(below.sum())
