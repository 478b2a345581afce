"""The report's figures: each function draws one PNG (150 dpi, viridis) and writes the CSV
behind it, or explains in one sentence why it was skipped (an axis that was not swept is
never drawn as an empty plot).

Each function takes the frames from results.load / results.curves / critical.critical_bits
and the output folder, and returns a Figure or a Skip. Accuracy is a fraction in [0, 1].
Deliberately leaves out: HTML (report.py) and interactive plots.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from .critical import setting_columns

DPI = 150
MAX_PANELS = 12
CMAP = "viridis"


@dataclass
class Figure:
    title: str
    png: str                 # file name inside the report folder
    csv: str                 # the table behind the figure
    caption: str
    notes: list = field(default_factory=list)


@dataclass
class Skip:
    title: str
    note: str


# ---- helpers ---------------------------------------------------------------------------------

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


def baseline_mean(df):
    """Mean accuracy of the finished fp32 baselines, NaN if none."""
    if "is_baseline" not in df:
        return np.nan
    b = df[df["is_baseline"].astype(bool) & (df["status"] == "done")]
    return float(b["final_test_accuracy"].mean()) if len(b) else np.nan


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


# ---- 1: heat maps ----------------------------------------------------------------------------

def heatmaps(df, out_dir):
    title = "Final test accuracy over exponent x mantissa bits"
    pts = usable(float_points(df))
    if pts.empty:
        return Skip(title, "No finished float-format points yet.")
    if pts["exp_bits"].nunique() < 2 or pts["man_bits"].nunique() < 2:
        def widths(col):
            return ", ".join(f"{w:g}" for w in sorted(pts[col].unique()))
        return Skip(title, "Skipped: exponent and mantissa widths were not both swept "
                           f"(exponent bits {widths('exp_bits')}; mantissa bits "
                           f"{widths('man_bits')}).")
    cells = len(pts.groupby(["exp_bits", "man_bits"]))
    if cells < 0.5 * pts["exp_bits"].nunique() * pts["man_bits"].nunique():
        return Skip(title, f"Skipped: the formats are a sparse list ({cells} exponent x mantissa "
                           "combinations), not a grid; see the accuracy-by-format bars.")
    panels, averaged = panel_columns(pts, swept_settings(pts))
    band = seed_band(pts, panels + ["exp_bits", "man_bits"])
    band.to_csv(os.path.join(out_dir, "heatmap.csv"), index=False)
    exps = np.sort(pts["exp_bits"].unique())
    mans = np.sort(pts["man_bits"].unique())
    groups = list(band.groupby(panels if len(panels) > 1 else panels[0], observed=True,
                               dropna=False)) if panels else [((), band)]
    fig, axes = grid(len(groups), ncols=min(3, len(groups)),
                     size=(max(4.0, 0.35 * len(mans) + 2), max(3.0, 0.35 * len(exps) + 1.5)))
    vmin, vmax = float(band["mean"].min()), float(band["mean"].max())
    cmap = matplotlib.colormaps[CMAP].copy()
    cmap.set_bad("lightgrey")
    image = None
    for ax, (key, g) in zip(axes, groups):
        key = key if isinstance(key, tuple) else (key,)
        table = g.pivot_table(index="exp_bits", columns="man_bits", values="mean")
        table = table.reindex(index=exps, columns=mans)  # [exp widths, mantissa widths]
        image = ax.imshow(np.ma.masked_invalid(table.to_numpy(dtype=float)), origin="lower",
                          aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_xticks(range(len(mans)), [f"{m:g}" for m in mans])
        ax.set_yticks(range(len(exps)), [f"{e:g}" for e in exps])
        ax.set_xlabel("mantissa bits")
        ax.set_ylabel("exponent bits")
        ax.set_title(", ".join(value_label(c, v) for c, v in zip(panels, key)) or "all points",
                     fontsize=9)
        if len(mans) * len(exps) <= 120:
            for (i, j), v in np.ndenumerate(table.to_numpy(dtype=float)):
                if not np.isnan(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if v < (vmin + vmax) / 2 else "black")
    fig.colorbar(image, ax=list(axes), label="final test accuracy (mean over seeds)",
                 shrink=0.9)
    save(fig, out_dir, "heatmap.png")
    notes = [f"Averaged over: {', '.join(averaged)}."] if averaged else []
    return Figure(title, "heatmap.png", "heatmap.csv",
                  "Mean final test accuracy over seeds for each exponent and mantissa width; "
                  "one panel per " + (", ".join(panels) if panels else "sweep") +
                  ". Grey: not run or not finished.", notes)


# ---- 2: accuracy vs mantissa bits -------------------------------------------------------------

def mantissa_exponent(pts):
    """The exponent width at which to read mantissa curves: the one with the most mantissa
    widths swept (ties: the widest, so the exponent range limits least). None if no exponent
    width has two or more mantissa widths."""
    counts = pts.groupby("exp_bits")["man_bits"].nunique()
    counts = counts[counts >= 2]
    if counts.empty:
        return None
    return float(counts[counts == counts.max()].index.max())


# Parameters that describe the quantization, not the fp32 run: baselines do not vary with them.
POLICY_COLUMNS = {"rounding", "exp_bits", "apply_to", "every", "master_weights"}


def baseline_by(df, p):
    """{value of p: mean finished-baseline accuracy} when baselines differ in p, else None."""
    if p is None or p in POLICY_COLUMNS or "is_baseline" not in df or p not in df:
        return None
    b = df[df["is_baseline"].astype(bool) & (df["status"] == "done")]
    if b[p].nunique() < 2:
        return None
    return b.groupby(p)["final_test_accuracy"].mean().to_dict()


def mantissa_sweep(df, title):
    """(finished float points, the exponent width with most mantissa widths), or a Skip when
    mantissa width was not swept at any one exponent width."""
    pts = usable(float_points(df))
    at_e = mantissa_exponent(pts) if not pts.empty else None
    if at_e is None:
        return Skip(title, "Skipped: mantissa width was not swept at any one exponent width "
                           "(or no finished points).")
    return pts, at_e


def accuracy_vs_mantissa(df, out_dir):
    title = "Accuracy versus mantissa bits"
    sweep = mantissa_sweep(df, title)
    if isinstance(sweep, Skip):
        return sweep
    pts, at_e = sweep
    params = swept_settings(pts)
    exp_swept = pts["exp_bits"].nunique() > 1
    if exp_swept:
        params = params + ["exp_bits"]
    panels = params or [None]
    rows = []
    fig, axes = grid(len(panels))
    base = baseline_mean(df)
    for ax, p in zip(axes, panels):
        data = pts if (p == "exp_bits" or not exp_swept) else pts[pts["exp_bits"] == at_e]
        by = ([p] if p else []) + ["man_bits"]
        band = seed_band(data, by)
        values = sorted(band[p].unique(), key=str) if p else [None]
        per_value_base = baseline_by(df, p)
        for color, v in zip(colors(len(values)), values):
            b = band[band[p] == v] if p else band
            b = b.sort_values("man_bits")
            label = value_label(p, v) if p else "all points"
            ax.plot(b["man_bits"], b["mean"], "o-", color=color, label=label, ms=3)
            ax.fill_between(b["man_bits"], b["min"], b["max"], color=color, alpha=0.2, lw=0)
            if per_value_base and v in per_value_base:
                ax.axhline(per_value_base[v], color=color, ls="--", lw=1)
            for r in b.itertuples(index=False):
                rows.append({"parameter": p or "", "value": "" if v is None else v,
                             "man_bits": r.man_bits, "mean": r.mean, "min": r.min,
                             "max": r.max, "seeds": r.seeds})
        if per_value_base:
            ax.plot([], [], color="grey", ls="--", lw=1, label="fp32 baseline (per value)")
        elif not np.isnan(base):
            ax.axhline(base, color="black", ls="--", lw=1, label="fp32 baseline")
        ax.set_xlabel("mantissa bits")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("final test accuracy")
        sub = "" if (p == "exp_bits" or not exp_swept) else f" (exponent bits = {at_e:g})"
        ax.set_title(f"by {p}{sub}" if p else "accuracy", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    save(fig, out_dir, "accuracy_vs_mantissa.png")
    pd.DataFrame(rows).to_csv(os.path.join(out_dir, "accuracy_vs_mantissa.csv"), index=False)
    return Figure(title, "accuracy_vs_mantissa.png", "accuracy_vs_mantissa.csv",
                  "One panel per swept parameter, one line per value: mean over seeds (and over "
                  "the other parameters) with the band from the worst to the best seed. Dashed: "
                  "mean fp32 baseline (per value, in the line's colour, where baselines differ). "
                  "Panels other than the exponent one are read at the exponent width with the "
                  "most mantissa widths.")


# ---- 2b: accuracy by format (named formats and fixed point) ------------------------------------

def accuracy_by_format(df, out_dir):
    title = "Accuracy by format"
    base = df["is_baseline"].astype(bool) if "is_baseline" in df else False
    pts = usable(df[~base])
    if pts["format"].nunique() < 2:
        return Skip(title, "Skipped: fewer than two formats with finished points.")
    # A full exponent x mantissa grid of E<e>M<m> formats is shown by the heat map; bars are
    # for lists of formats (fixed point, fp8-e4m3, or a sparse list like fp16, bf16, E5M2).
    floats = pts[pts["kind"] == "float"]
    full_grid = (pts["kind"] == "float").all() and len(floats.groupby(
        ["exp_bits", "man_bits"])) == floats["exp_bits"].nunique() * floats["man_bits"].nunique()
    if full_grid:
        return Skip(title, "Skipped: the formats form a full exponent x mantissa grid with no "
                           "fixed-point or named formats; the heat map and the accuracy-versus-"
                           "mantissa figure show them.")
    hue = "rounding" if pts["rounding"].nunique() > 1 else None
    band = seed_band(pts, ["format"] + ([hue] if hue else []))
    band.to_csv(os.path.join(out_dir, "accuracy_by_format.csv"), index=False)
    order = [c for c in ("kind", "exp_bits", "man_bits", "int_bits", "frac_bits") if c in pts]
    formats = list(pd.unique(pts.sort_values(order)["format"]))
    hues = sorted(band[hue].unique()) if hue else [None]
    width = 0.8 / len(hues)
    fig = MplFigure(figsize=(max(5, 0.6 * len(formats) * len(hues) + 2), 3.6))
    ax = fig.subplots()
    x = np.arange(len(formats))
    for k, (color, h) in enumerate(zip(colors(len(hues)), hues)):
        b = band[band[hue] == h] if hue else band
        b = b.set_index("format").reindex(formats)
        err = np.vstack([b["mean"] - b["min"], b["max"] - b["mean"]])
        ax.bar(x + (k - (len(hues) - 1) / 2) * width, b["mean"], width, yerr=err,
               color=color, label=value_label(hue, h) if hue else None, capsize=2)
    base_acc = baseline_mean(df)
    if not np.isnan(base_acc):
        ax.axhline(base_acc, color="black", ls="--", lw=1, label="fp32 baseline")
    ax.set_xticks(x, formats, rotation=45, ha="right")
    ax.set_xlabel("format")
    ax.set_ylabel("final test accuracy")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    save(fig, out_dir, "accuracy_by_format.png")
    return Figure(title, "accuracy_by_format.png", "accuracy_by_format.csv",
                  "Mean final test accuracy per format over seeds (error bars: worst to best "
                  "seed), averaged over the other parameters.")


# ---- 4: lost updates next to accuracy ------------------------------------------------------------

def lost_updates(df, out_dir):
    title = "Lost-update fraction versus mantissa bits"
    sweep = mantissa_sweep(df, title)
    if isinstance(sweep, Skip):
        return sweep
    pts, at_e = sweep
    if "mean_lost_update_fraction" not in pts or pts["mean_lost_update_fraction"].isna().all():
        return Skip(title, "Skipped: the file has no lost-update instrumentation.")
    pts = pts[pts["exp_bits"] == at_e]
    candidates = [c for c in swept_settings(pts) if pts[c].nunique() <= 6]
    hue = "rounding" if "rounding" in candidates else (candidates[0] if candidates else None)
    by = ([hue] if hue else []) + ["man_bits"]
    acc = seed_band(pts, by)
    lost = seed_band(pts, by, value="mean_lost_update_fraction")
    merged = acc.merge(lost, on=by, suffixes=("_accuracy", "_lost_update_fraction"))
    merged.to_csv(os.path.join(out_dir, "lost_updates.csv"), index=False)
    fig = MplFigure(figsize=(9, 3.6), layout="constrained")
    a1, a2 = fig.subplots(1, 2)
    values = sorted(merged[hue].unique(), key=str) if hue else [None]
    for color, v in zip(colors(len(values)), values):
        m = (merged[merged[hue] == v] if hue else merged).sort_values("man_bits")
        label = value_label(hue, v) if hue else None
        for ax, q in ((a1, "accuracy"), (a2, "lost_update_fraction")):
            ax.plot(m["man_bits"], m[f"mean_{q}"], "o-", ms=3, color=color, label=label)
            ax.fill_between(m["man_bits"], m[f"min_{q}"], m[f"max_{q}"], color=color,
                            alpha=0.2, lw=0)
    a1.set_ylabel("final test accuracy")
    a2.set_ylabel("lost-update fraction (mean over epochs)")
    for ax in (a1, a2):
        ax.set_xlabel("mantissa bits")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if hue:
            ax.legend(fontsize=7)
    e = pts["exp_bits"].iloc[0]
    fig.suptitle(f"exponent bits = {e:g}", fontsize=9)
    save(fig, out_dir, "lost_updates.png")
    return Figure(title, "lost_updates.png", "lost_updates.csv",
                  "Left: accuracy; right: the fraction of weights whose nonzero fp32 update was "
                  "lost to rounding (swamping), mean over epochs, at the same widths: read the "
                  "accuracy cliff against how much of the training signal rounding discarded "
                  "(below the cliff the fraction need not keep rising).")


# ---- 5: training curves around the critical width ----------------------------------------------

def training_curves(df, cv, crit, out_dir):
    title = "Training curves around the critical mantissa width"
    rows = crit[(crit["axis"] == "man_bits") & crit["critical"].notna()] if len(crit) else crit
    if rows is None or len(rows) == 0:
        return Skip(title, "Skipped: no critical mantissa width was found (mantissa not swept, "
                           "or no width stays within tolerance of the baseline).")
    # Prefer the widest exponent (the mantissa is then what limits accuracy).
    rows = rows[rows["exp_bits"] == rows["exp_bits"].max()].head(6)
    keys = [c for c in setting_columns(df) if c in rows.columns]
    pts = float_points(df)
    out = []
    fig, axes = grid(len(rows))
    for ax, r in zip(axes, rows.itertuples(index=False)):
        r = r._asdict()
        sel = pts[pts["exp_bits"] == r["exp_bits"]]
        for k in keys:
            sel = sel[sel[k] == r[k]]
        label_key = ", ".join(value_label(k, r[k]) for k in keys)
        lines = [("critical", r["critical"]), ("below", r["below"])]
        series = []
        base_ids = sorted(set(int(b) for b in sel["baseline_index"] if b >= 0))
        if base_ids:
            series.append(("fp32 baseline", base_ids, "black", "--"))
        cmap = matplotlib.colormaps[CMAP]
        for (what, m), color in zip(lines, (cmap(0.35), cmap(0.8))):
            if np.isnan(m):
                continue
            ids = sel[sel["man_bits"] == m]["point"].tolist()
            series.append((f"{what}: E{r['exp_bits']:g}M{m:g}", ids, color, "-"))
        for name, ids, color, ls in series:
            c = cv[cv["point"].isin(ids)].groupby("epoch")["test_accuracy"].agg(
                ["mean", "min", "max"]).dropna()
            if c.empty:
                continue
            ax.plot(c.index, c["mean"], ls, marker="o", ms=3, color=color, label=name)
            ax.fill_between(c.index, c["min"], c["max"], color=color, alpha=0.2, lw=0)
            for epoch, v in c.iterrows():
                out.append({"setting": label_key, "series": name, "epoch": epoch,
                            "mean": v["mean"], "min": v["min"], "max": v["max"]})
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("test accuracy")
        ax.set_title(label_key or "all points", fontsize=8)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    save(fig, out_dir, "training_curves.png")
    pd.DataFrame(out).to_csv(os.path.join(out_dir, "training_curves.csv"), index=False)
    return Figure(title, "training_curves.png", "training_curves.csv",
                  "Test accuracy per epoch (mean over seeds, band worst to best seed) for the "
                  "fp32 baseline, the critical mantissa width and the next narrower width swept.")


# ---- 6: status ---------------------------------------------------------------------------------

def status_figure(df, out_dir):
    title = "Status"
    counts = df["status"].value_counts().reindex(["pending", "done", "diverged", "failed"],
                                                 fill_value=0)
    seconds = df.groupby("status", observed=False)["wall_seconds"].sum().reindex(
        counts.index, fill_value=0.0)
    table = pd.DataFrame({"status": counts.index, "points": counts.to_numpy(),
                          "compute_seconds": seconds.to_numpy()})
    table.to_csv(os.path.join(out_dir, "status.csv"), index=False)
    fig = MplFigure(figsize=(5, 3))
    ax = fig.subplots()
    ax.bar(table["status"], table["points"], color=colors(4))
    for i, v in enumerate(table["points"]):
        ax.text(i, v, str(v), ha="center", va="bottom", fontsize=8)
    ax.set_xlabel("status")
    ax.set_ylabel("points")
    ax.set_ylim(0, max(1, table["points"].max()) * 1.15)
    save(fig, out_dir, "status.png")
    return Figure(title, "status.png", "status.csv",
                  "Points by status, and the training time they took (sum of per-point wall "
                  "seconds over all ranks).")
