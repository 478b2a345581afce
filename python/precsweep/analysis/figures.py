"""The report's figures: each function draws one PNG (150 dpi, viridis) and writes the CSV
behind it, or explains in one sentence why it was skipped (an axis that was not swept is
never drawn as an empty plot).

Each function takes the frames from results.load / results.curves / critical.critical_bits
and the output folder, and returns a Figure or a Skip. Accuracy is a fraction in [0, 1].
Deliberately leaves out: HTML (report.py) and interactive plots.
"""
from __future__ import annotations

import os

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from .critical import _scan, setting_columns
from .plotting import (CHANCE, CMAP, POLICY_COLUMNS, Figure, Skip, baseline_for, clip_below,
                       colors, draw_reference, finished_baselines, float_points, grid, groups,
                       key_label, layout, panel_columns, save, seed_band, swept_settings,
                       usable, value_label, y_window)


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
    text_size = 8 if len(mans) <= 12 else 7
    # Cells of at least ~0.5 x 0.45 inch, so the accuracy printed in each stays readable.
    fig, axes = grid(len(groups), ncols=min(2 if len(mans) > 8 else 3, len(groups)),
                     size=(max(4.0, 0.5 * len(mans) + 2), max(3.0, 0.45 * len(exps) + 1.5)))
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
        ax.set_xticks(range(len(mans)), [f"{m:g}" for m in mans], fontsize=8)
        ax.set_yticks(range(len(exps)), [f"{e:g}" for e in exps], fontsize=8)
        ax.set_xlabel("mantissa bits")
        ax.set_ylabel("exponent bits")
        ax.set_title(key_label(panels, key) or "every setting (mean over seeds)", fontsize=9)
        if len(mans) * len(exps) <= 200:
            for (i, j), v in np.ndenumerate(table.to_numpy(dtype=float)):
                if not np.isnan(v):
                    ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=text_size,
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


def baseline_by(df, p):
    """{value of p: mean finished-baseline accuracy} when baselines differ in p, else None."""
    if p is None or p in POLICY_COLUMNS or "is_baseline" not in df or p not in df:
        return None
    b = finished_baselines(df)
    if b[p].nunique() < 2:
        return None
    return b.groupby(p)["final_test_accuracy"].mean().to_dict()


def mantissa_sweep(df, title):
    """(finished float points, the exponent width with most mantissa widths), or a Skip when
    mantissa width was not swept at any one exponent width."""
    pts = usable(float_points(df))
    at_e = mantissa_exponent(pts) if not pts.empty else None
    # Two widths (fp16 and fp8-e5m2 in a list of formats) are a comparison, not a sweep: the
    # bars show them.
    if at_e is None or pts[pts["exp_bits"] == at_e]["man_bits"].nunique() < 3:
        return Skip(title, "Skipped: mantissa width was not swept (three or more widths) at "
                           "any one exponent width (or no finished points).")
    return pts, at_e


def _mantissa_panel(ax, data, lay, panel_key, df, tolerance, rows):
    """One panel: a line per hue value (mean over seeds, band worst to best seed), the fp32
    baseline with its tolerance band, and the critical width of each line marked."""
    by = ([lay.hue] if lay.hue else []) + ["man_bits"]
    band = seed_band(data, by)
    hue_values = sorted(band[lay.hue].unique(), key=str) if lay.hue else [None]
    hue_baselines = baseline_by(df, lay.hue)
    panel_base = baseline_for(df, lay.panels, panel_key)
    refs = list(hue_baselines.values()) if hue_baselines else [panel_base]
    ax.set_ylim(*y_window(band["mean"], refs, tolerance))
    if not hue_baselines:
        draw_reference(ax, panel_base, tolerance)
    clipped = 0
    for color, v in zip(colors(len(hue_values)), hue_values):
        b = (band[band[lay.hue] == v] if lay.hue else band).sort_values("man_bits")
        base = hue_baselines.get(v, np.nan) if hue_baselines else panel_base
        if hue_baselines:
            draw_reference(ax, base, tolerance, color=color, label=False)
        crit = _scan(b["man_bits"].to_numpy(float), b["mean"].to_numpy(float), base,
                     tolerance)[0] if np.isfinite(base) else np.nan
        label = (str(v) if lay.hue else f"mean over {int(b['seeds'].max())} seed(s)")
        label += f" (critical {crit:g})" if np.isfinite(crit) else ""
        ax.plot(b["man_bits"], b["mean"], "o-", color=color, label=label, ms=3)
        ax.fill_between(b["man_bits"], b["min"], b["max"], color=color, alpha=0.2, lw=0)
        if np.isfinite(crit):
            at = b[b["man_bits"] == crit]["mean"].iloc[0]
            ax.axvline(crit, color=color, ls=":", lw=1)
            ax.plot([crit], [at], "*", color=color, ms=11, mec="black", mew=0.5)
        clipped += clip_below(ax, b["man_bits"], b["mean"], color)
        for r in b.itertuples(index=False):
            row = dict(zip(lay.panels, panel_key))
            if lay.hue:
                row[lay.hue] = v
            row.update(man_bits=r.man_bits, mean=r.mean, min=r.min, max=r.max, seeds=r.seeds,
                       baseline=base, critical=crit)
            rows.append(row)
    return clipped


def accuracy_vs_mantissa(df, out_dir, tolerance=0.01):
    title = "Accuracy versus mantissa bits"
    sweep = mantissa_sweep(df, title)
    if isinstance(sweep, Skip):
        return sweep
    pts, at_e = sweep
    settings = swept_settings(pts)
    if pts["exp_bits"].nunique() > 1:
        settings.append("exp_bits")
        # Exponent widths with a single mantissa width (bf16 beside an E5 grid) make no line.
        per_e = pts.groupby("exp_bits")["man_bits"].nunique()
        pts = pts[pts["exp_bits"].isin(per_e[per_e >= 2].index)]
    lay = layout(pts, settings)
    panels = groups(pts, lay.panels)
    fig, axes = grid(len(panels), ncols=min(3, len(panels)))
    rows, clipped = [], 0
    for ax, (key, data) in zip(axes, panels):
        clipped += _mantissa_panel(ax, data, lay, key, df, tolerance, rows)
        exp = "" if "exp_bits" in lay.panels + [lay.hue] else f"exponent bits {at_e:g}"
        ax.set_title(", ".join(x for x in (key_label(lay.panels, key), exp) if x) or
                     "all settings", fontsize=9)
        ax.set_xlabel("mantissa bits")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("final test accuracy")
        ax.legend(fontsize=7, title=lay.hue, title_fontsize=7)
        ax.grid(alpha=0.3)
    save(fig, out_dir, "accuracy_vs_mantissa.png")
    pd.DataFrame(rows).to_csv(os.path.join(out_dir, "accuracy_vs_mantissa.csv"), index=False)
    notes = lay.notes()
    if clipped:
        notes.append(f"{clipped} value(s) lie below the zoomed axis (chance is {CHANCE:g}); "
                     "they are drawn as triangles on its lower edge; the CSV has them.")
    what = (f"one line per {lay.hue}" if lay.hue else "one line") + (
        f", one panel per {', '.join(lay.panels)}" if lay.panels else "")
    return Figure(title, "accuracy_vs_mantissa.png", "accuracy_vs_mantissa.csv",
                  f"Final test accuracy against mantissa width, {what}: mean over seeds with "
                  "the band from the worst to the best seed. Dashed: the fp32 baseline; shaded: "
                  f"the tolerance band ({tolerance:g}); star and dotted line: the critical "
                  "width, the narrowest width whose mean, and that of every wider width, stays "
                  "in or above the band. The y-axis is zoomed to the band's neighbourhood.",
                  notes)


# ---- 2b: accuracy by format or by any swept category ---------------------------------------------

def _format_order(pts):
    order = [c for c in ("kind", "exp_bits", "man_bits", "int_bits", "frac_bits") if c in pts]
    return list(pd.unique(pts.sort_values(order)["format"]))


def _bars_panel(ax, data, x_axis, x_values, hue, panel_base, tolerance):
    band = seed_band(data, [x_axis] + ([hue] if hue else []))
    hues = sorted(band[hue].unique(), key=str) if hue else [None]
    width = 0.8 / len(hues)
    xs = np.arange(len(x_values))
    ax.set_ylim(*y_window(band["mean"], [panel_base], tolerance))
    draw_reference(ax, panel_base, tolerance)
    for k, (color, h) in enumerate(zip(colors(len(hues)), hues)):
        b = (band[band[hue] == h] if hue else band).set_index(x_axis).reindex(x_values)
        err = np.vstack([b["mean"] - b["min"], b["max"] - b["mean"]])
        pos = xs + (k - (len(hues) - 1) / 2) * width
        ax.bar(pos, b["mean"] - ax.get_ylim()[0], width, bottom=ax.get_ylim()[0], yerr=err,
               color=color, label=str(h) if hue else None, capsize=2)
    ax.set_xticks(xs, [str(v) for v in x_values], rotation=45 if len(x_values) > 4 else 0,
                  ha="right" if len(x_values) > 4 else "center", fontsize=8)
    return band


def _full_float_grid(pts):
    """True when the points' formats are all E<e>M<m> and form a full exponent x mantissa grid
    (two or more formats)."""
    if pts["format"].nunique() < 2 or not (pts["kind"] == "float").all():
        return False
    cells = len(pts.groupby(["exp_bits", "man_bits"]))
    return cells == pts["exp_bits"].nunique() * pts["man_bits"].nunique()


def accuracy_by_format(df, out_dir, tolerance=0.01):
    title = "Accuracy by format and by every swept setting"
    base = df["is_baseline"].astype(bool) if "is_baseline" in df else False
    pts = usable(df[~base])
    settings = swept_settings(pts)
    formats = pts["format"].nunique()
    if formats < 2 and not settings:
        return Skip(title, "Skipped: fewer than two formats and no other swept setting with "
                           "finished points.")
    # A full exponent x mantissa grid of E<e>M<m> formats is shown by the heat map and the
    # mantissa figure (which show every other swept setting too); bars are for lists.
    if _full_float_grid(pts):
        return Skip(title, "Skipped: the formats form a full exponent x mantissa grid with no "
                           "fixed-point or named formats; the heat map and the accuracy-versus-"
                           "mantissa figure show them.")
    if formats > 1:  # the format's name already says its encoding
        x_axis, x_values = "format", _format_order(pts)
        rest = [a for a in settings if a != "encoding"]
    else:
        x_axis = max(settings, key=lambda a: pts[a].nunique())
        x_values = sorted(pts[x_axis].unique(), key=str)
        rest = [a for a in settings if a != x_axis]
    lay = layout(pts, rest)
    panels = groups(pts, lay.panels)
    fig, axes = grid(len(panels), ncols=min(2, len(panels)),
                     size=(max(5.0, 0.55 * len(x_values) * max(1, pts[lay.hue].nunique()
                                                              if lay.hue else 1) + 2), 3.8))
    tables = []
    for ax, (key, data) in zip(axes, panels):
        band = _bars_panel(ax, data, x_axis, x_values, lay.hue,
                           baseline_for(df, lay.panels, key), tolerance)
        for c, v in zip(lay.panels, key):
            band[c] = v
        tables.append(band)
        ax.set_title(key_label(lay.panels, key) or f"by {x_axis}", fontsize=9)
        ax.set_xlabel(x_axis)
        ax.set_ylabel("final test accuracy")
        ax.legend(fontsize=7, title=lay.hue, title_fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    save(fig, out_dir, "accuracy_by_format.png")
    pd.concat(tables).to_csv(os.path.join(out_dir, "accuracy_by_format.csv"), index=False)
    what = f"one bar per {x_axis}" + (f" and {lay.hue}" if lay.hue else "") + (
        f", one panel per {', '.join(lay.panels)}" if lay.panels else "")
    return Figure(title, "accuracy_by_format.png", "accuracy_by_format.csv",
                  f"Mean final test accuracy over seeds, {what} (error bars: worst to best "
                  "seed). Dashed: the fp32 baseline; shaded: the tolerance band "
                  f"({tolerance:g}). Bars start at the lower edge of the zoomed y-axis.",
                  lay.notes())


# ---- 3: critical widths with their seed range ------------------------------------------------

def critical_widths(crit, out_dir):
    """One row per setting: the critical width (dot) and its leave-one-seed-out range (bar)."""
    title = "Critical width per setting"
    if not len(crit) or crit["critical"].notna().sum() == 0:
        return Skip(title, "Skipped: no critical width was found (widths not swept, or none "
                           "stays within tolerance of the baseline).")
    keys = [c for c in crit.columns if c not in {
        "axis", "exp_bits", "man_bits", "critical", "below", "reference", "reference_kind",
        "accuracy_at_critical", "accuracy_below", "widths", "seeds", "critical_min",
        "critical_max"} and crit[c].nunique(dropna=False) > 1]
    rows = crit.copy()
    held = np.where(rows["axis"] == "man_bits", "E" + rows["exp_bits"].map("{:g}".format),
                    "M" + rows["man_bits"].map("{:g}".format))
    axis_name = np.where(rows["axis"] == "man_bits", "mantissa", "exponent")
    rows["label"] = [", ".join([f"{a} at {h}"] + [value_label(k, r[k]) for k in keys])
                     for a, h, (_, r) in zip(axis_name, held, rows.iterrows())]
    rows = rows.head(40)
    fig = MplFigure(figsize=(7.5, 0.32 * len(rows) + 1.2), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    top = float(np.nanmax(np.r_[rows["critical"], rows["critical_min"],
                                rows["critical_max"].replace(np.inf, np.nan)])) + 1
    for yi, r in zip(y, rows.itertuples(index=False)):
        lo, hi = r.critical_min, r.critical_max
        if np.isfinite(lo):
            ax.plot([lo, min(hi, top)], [yi, yi], color="0.4", lw=2, solid_capstyle="butt")
            if np.isinf(hi):
                ax.plot([top], [yi], ">", color="0.4", ms=6)
        if np.isfinite(r.critical):
            ax.plot([r.critical], [yi], "o", color=colors(1)[0], ms=7, zorder=3)
    ax.set_yticks(y, rows["label"], fontsize=8)
    low = float(np.nanmin(np.r_[rows["critical"], rows["critical_min"]]))
    ax.set_xlim(low - 1, top + 0.5)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("critical width (bits)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", alpha=0.3)
    save(fig, out_dir, "critical_widths.png")
    rows.drop(columns=["label"]).to_csv(os.path.join(out_dir, "critical_widths.csv"),
                                        index=False)
    return Figure(title, "critical_widths.png", "critical_widths.csv",
                  "Dot: the critical width of each setting (the table above). Bar: its range "
                  "over leave-one-seed-out; an arrow: without some seed no swept width "
                  "qualifies. A long bar means the seeds disagree near the cliff: run more "
                  "seeds before reading a one-bit difference.")


# ---- 3b: why a format fails, next to accuracy --------------------------------------------------

INSTRUMENTATION = ("lost_update", "overflow", "underflow", "flush", "saturat", "swamp",
                   "clamp", "skipped")


def instrumentation_columns(pts):
    """The final_<metric> columns that explain failures (lost updates, overflow, underflow or
    flush to zero, saturation, swamped additions, skipped steps), where some value is nonzero."""
    cols = [c for c in pts.columns if c.startswith(("final_", "mean_")) and
            any(k in c for k in INSTRUMENTATION) and c != "final_test_accuracy"]
    cols = [c for c in cols if np.nan_to_num(pts[c].astype(float)).any()]
    return [c for c in cols if not (c.startswith("final_") and "mean_" + c[6:] in cols)]


def why_it_fails(df, out_dir):
    """Accuracy and each instrumentation metric side by side, against the axis the comparison
    bars use (format, else the widest swept setting), one bar per value of the line axis."""
    title = "Why it fails: accuracy next to the instrumentation"
    base = df["is_baseline"].astype(bool) if "is_baseline" in df else False
    pts = usable(df[~base])
    metrics = instrumentation_columns(pts)[:8]
    settings = [a for a in swept_settings(pts) if a != "encoding"]
    if not metrics or (pts["format"].nunique() < 2 and not settings):
        return Skip(title, "Skipped: no swept comparison with nonzero instrumentation "
                           "(lost updates, overflow, underflow...) in the file.")
    if _full_float_grid(pts):
        return Skip(title, "Skipped: the formats form an exponent x mantissa grid; the "
                           "lost-update figure shows the instrumentation against the widths.")
    if pts["format"].nunique() > 1:
        x_axis, x_values = "format", _format_order(pts)
    else:
        x_axis = max(settings, key=lambda a: pts[a].nunique())
        x_values = sorted(pts[x_axis].unique(), key=str)
    hue = layout(pts, [a for a in settings if a != x_axis]).hue
    fig, axes = grid(1 + len(metrics), ncols=min(3, 1 + len(metrics)), size=(5.2, 3.6))
    tables = []
    for ax, value in zip(axes, ["accuracy"] + metrics):
        band = seed_band(pts, [x_axis] + ([hue] if hue else []), value=value)
        hues = sorted(band[hue].unique(), key=str) if hue else [None]
        width = 0.8 / len(hues)
        for k, (color, h) in enumerate(zip(colors(len(hues)), hues)):
            b = (band[band[hue] == h] if hue else band).set_index(x_axis).reindex(x_values)
            ax.bar(np.arange(len(x_values)) + (k - (len(hues) - 1) / 2) * width, b["mean"],
                   width, color=color, label=str(h) if hue else None)
        ax.set_xticks(np.arange(len(x_values)), [str(v) for v in x_values], rotation=45,
                      ha="right", fontsize=7)
        ax.set_title(value.replace("final_", "").replace("_", " "), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        tables.append(band.rename(columns={"mean": f"mean_{value}", "min": f"min_{value}",
                                           "max": f"max_{value}", "seeds": "seeds"}))
    if hue:
        axes[0].legend(fontsize=7, title=hue, title_fontsize=7)
    save(fig, out_dir, "why_it_fails.png")
    merged = tables[0]
    for t in tables[1:]:
        merged = merged.merge(t.drop(columns=["seeds"]), on=[x_axis] + ([hue] if hue else []))
    merged.to_csv(os.path.join(out_dir, "why_it_fails.csv"), index=False)
    return Figure(title, "why_it_fails.png", "why_it_fails.csv",
                  "Mean over seeds of the final test accuracy and of each failure counter the "
                  "file records (final_*: the last epoch; mean_*: mean over epochs), per "
                  f"{x_axis}" + (f" and {hue}" if hue else "") + ": read a low bar on the left "
                  "against its cause on the right (updates lost to rounding, values that "
                  "overflowed or were flushed to zero).")


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

def _keys(frame, column):
    """(file, id) pairs of the points (or linked baselines) in `frame`: unique across files."""
    files = frame["file"] if "file" in frame else np.zeros(len(frame))
    return list(zip(files, frame[column].astype(np.int64)))


def training_curves(df, cv, crit, out_dir):
    title = "Training curves around the critical mantissa width"
    epochs = int(df["epochs_run"].max()) if "epochs_run" in df and len(df) else 0
    if epochs < 2:
        return Skip(title, f"Skipped: the points ran {epochs} epoch(s); a curve needs two.")
    rows = crit[(crit["axis"] == "man_bits") & crit["critical"].notna()] if len(crit) else crit
    if rows is None or len(rows) == 0:
        return Skip(title, "Skipped: no critical mantissa width was found (mantissa not swept, "
                           "or no width stays within tolerance of the baseline).")
    # Prefer the widest exponent (the mantissa is then what limits accuracy).
    rows = rows[rows["exp_bits"] == rows["exp_bits"].max()].head(6)
    keys = [c for c in setting_columns(df) if c in rows.columns]
    pts = float_points(df)
    cv_keys = pd.MultiIndex.from_arrays([cv["file"] if "file" in cv else np.zeros(len(cv)),
                                         cv["point"]])
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
        base_ids = sorted(set(_keys(sel[sel["baseline_index"] >= 0], "baseline_index")))
        if base_ids:
            series.append(("fp32 baseline", base_ids, "black", "--"))
        cmap = matplotlib.colormaps[CMAP]
        for (what, m), color in zip(lines, (cmap(0.35), cmap(0.8))):
            if np.isnan(m):
                continue
            ids = _keys(sel[sel["man_bits"] == m], "point")
            series.append((f"{what}: E{r['exp_bits']:g}M{m:g}", ids, color, "-"))
        for name, ids, color, ls in series:
            c = cv[cv_keys.isin(ids)].groupby("epoch")["test_accuracy"].agg(
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


def search_widths(rows, keys, out_dir):
    """Search mode: one row per setting, the critical value found (dot) and the prediction
    from the setting's fp32 run (cross, start: predict). rows: results.search(); keys: the
    parameter columns that tell the settings apart."""
    title = "Critical precision per setting (search)"
    if not len(rows) or (rows["critical"].notna().sum() == 0 and
                         rows["predicted"].notna().sum() == 0):
        return Skip(title, "Skipped: no setting has a critical value or a prediction yet.")
    rows = rows.head(40).copy()
    rows["label"] = [", ".join(value_label(k, r[k]) for k in keys) or f"setting {i}"
                     for i, (_, r) in enumerate(rows.iterrows())]
    fig = MplFigure(figsize=(7.5, 0.32 * len(rows) + 1.4), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))[::-1]
    c = colors(2)
    ax.plot(rows["critical"], y, "o", color=c[0], ms=8, label="critical (search)", zorder=3)
    if rows["predicted"].notna().any():
        ax.plot(rows["predicted"], y, "x", color=c[1], ms=9, mew=2, label="predicted",
                zorder=4)
    ax.set_yticks(y, rows["label"], fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(f"critical {rows['axis'].iloc[0]} width (bits)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    save(fig, out_dir, "search_widths.png")
    rows.drop(columns=["label"]).to_csv(os.path.join(out_dir, "search_widths.csv"), index=False)
    return Figure(title, "search_widths.png", "search_widths.csv",
                  "Dot: the critical width the search found (smallest width such that it and "
                  "every wider one pass). Cross: the width predicted from the setting's fp32 "
                  "run (start: predict; docs/theory.md), where the search started.")
