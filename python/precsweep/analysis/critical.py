"""Critical widths: the fewest mantissa (or exponent) bits that still train as well as fp32.

Definition (also in docs/analysis.md). Points are grouped by setting: every swept parameter
except seed and the format itself (so rounding, lr, hidden, batch, apply_to, master_weights...
each split groups). Within a group, for the mantissa axis the exponent width is held fixed
(and vice versa). For each width w on the axis:

    acc(w) = mean over seeds of final_test_accuracy (done and diverged points; a diverged
             point without an accuracy counts as 0; pending and failed points are left out)
    ref    = mean over seeds of the accuracy of the fp32 baselines the group's points link to
             (reference_kind "baseline"); without a finished baseline, the mean accuracy of
             the widest format in the group (reference_kind "widest")
    ok(w)  = acc(w) >= ref - tolerance

critical = the smallest swept w such that ok(v) holds for w and for every larger swept v.
A noisy dip at a wider width therefore moves the critical width up (past the dip) rather than
being ignored, and a lucky narrow width below a failing one does not count. If the widest
swept width is not ok, critical (and below) are NaN. `below` is the next narrower swept width (the last
one that fails), NaN when critical is the narrowest width swept.

Uncertainty: with two or more seeds, critical_min / critical_max give the range of the
critical width over leave-one-seed-out (the rule above applied to the points of all seeds but
one, for each seed in turn, baselines included): a critical width the seeds do not agree on
shows up as a range instead of a false single number.

Points of several files (load() of a list or glob) are pooled: a point is (file, point), and a
baseline link is followed within its file.
Deliberately leaves out: fixed-point and block formats (no mantissa/exponent split) and
significance tests.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .results import OLD_LAYOUT_PARAMETERS

# Columns that describe the format rather than the training setting.
PRECISION_COLUMNS = {"format", "exp_bits", "man_bits", "kind", "int_bits", "frac_bits"}
# Columns that are never grouping keys.
NON_SETTING_COLUMNS = {"seed", "point", "file", "is_baseline", "epochs_run"} | PRECISION_COLUMNS


def setting_columns(df):
    """The swept (more than one value) non-precision parameters other than seed, in canonical
    order; `rounding` is always included when present."""
    rows = df[~df["is_baseline"]] if "is_baseline" in df else df
    keys = []
    known = [c for c in df.attrs.get("parameters", OLD_LAYOUT_PARAMETERS) if c in df.columns]
    for c in known:
        if c in NON_SETTING_COLUMNS:
            continue
        if c == "rounding" or rows[c].nunique(dropna=False) > 1:
            keys.append(c)
    # Formats with the same widths but another encoding (fp8-e4m3 vs E4M3) are other settings.
    if "encoding" in rows and rows["encoding"].nunique(dropna=False) > 1:
        keys.append("encoding")
    return keys


def _accuracy_for_mean(df):
    """final_test_accuracy with diverged-without-accuracy as 0; NaN for pending/failed."""
    acc = df["final_test_accuracy"].astype(float).copy()
    diverged = df["status"] == "diverged"
    acc[diverged & acc.isna()] = 0.0
    usable = df["status"].isin(["done", "diverged"])
    acc[~usable] = np.nan
    return acc


def _scan(widths, means, reference, tolerance):
    """widths ascending, means aligned. Returns (critical, below, acc_critical, acc_below)."""
    ok = means >= reference - tolerance
    if len(widths) == 0 or not ok[-1]:
        return np.nan, np.nan, np.nan, np.nan
    i = len(widths) - 1
    while i > 0 and ok[i - 1]:
        i -= 1
    below = widths[i - 1] if i > 0 else np.nan
    acc_below = means[i - 1] if i > 0 else np.nan
    return widths[i], below, means[i], acc_below


def critical_bits(df, tolerance=0.01):
    """critical_table() plus critical_min / critical_max: the range of the critical width over
    leave-one-seed-out (NaN with fewer than two seeds; see the module docstring)."""
    crit = critical_table(df, tolerance)
    seeds = sorted(df["seed"].dropna().unique()) if "seed" in df else []
    crit["critical_min"] = np.nan
    crit["critical_max"] = np.nan
    if len(seeds) < 2 or crit.empty:
        return crit
    on = [c for c in crit.columns if c in setting_columns(df)] + ["axis", "exp_bits", "man_bits"]
    per_seed = []
    for s in seeds:
        sub = critical_table(df[df["seed"] != s], tolerance)
        per_seed.append(sub[on + ["critical"]])
    # A width that never qualifies without some seed counts as above every width swept.
    joined = pd.concat(per_seed).fillna({"critical": np.inf})
    key = crit[on].astype(str).agg("|".join, axis=1)
    other = joined[on].astype(str).agg("|".join, axis=1)
    lo = joined["critical"].groupby(other.to_numpy()).min()
    hi = joined["critical"].groupby(other.to_numpy()).max()
    crit["critical_min"] = key.map(lo).replace(np.inf, np.nan).to_numpy()
    crit["critical_max"] = key.map(hi).to_numpy()
    return crit


def critical_table(df, tolerance=0.01):
    """Critical mantissa and exponent widths per setting (see the module docstring).

    df: the frame from load(). Returns one row per (setting, axis, other width) with columns:
    the setting columns, axis ("man_bits" or "exp_bits"), exp_bits (held fixed; NaN on
    exp_bits rows), man_bits (held fixed; NaN on man_bits rows), critical, below, reference,
    reference_kind, accuracy_at_critical, accuracy_below, widths (number of widths swept),
    seeds (mean number of evaluated seeds per width)."""
    keys = setting_columns(df)
    acc_all = _accuracy_for_mean(df)
    # Baselines count only when done (a diverged fp32 run is no reference).
    done_acc = df["final_test_accuracy"].where(df["status"] == "done")
    acc_by_point = dict(zip(_point_ids(df, "point"), done_acc))
    baseline = df["is_baseline"].astype(bool) if "is_baseline" in df else False
    fp = df[~baseline & df["kind"].isin(["float", "named"])
            & df["exp_bits"].notna() & df["man_bits"].notna()].copy()
    fp["_acc"] = acc_all[fp.index]
    out_cols = keys + ["axis", "exp_bits", "man_bits", "critical", "below", "reference",
                       "reference_kind", "accuracy_at_critical", "accuracy_below", "widths",
                       "seeds"]
    if fp.empty:
        return pd.DataFrame(columns=out_cols)
    # One id per setting (keys may hold NaN, hence dropna=False).
    fp["_setting"] = (fp.groupby(keys if len(keys) > 1 else keys[0], dropna=False,
                                 observed=True, sort=True).ngroup() if keys else 0)
    settings = fp.drop_duplicates("_setting").set_index("_setting")[keys]
    setting_values = {i: dict(zip(keys, r)) for i, r in
                      zip(settings.index, settings.itertuples(index=False, name=None))}
    # acc(w) per cell [setting, exp_bits, man_bits]: mean and number of evaluated seeds.
    cells = fp.groupby(["_setting", "exp_bits", "man_bits"])["_acc"].agg(
        ["mean", "count"]).reset_index()
    cells = cells[cells["count"] > 0]
    references = _references(fp, cells, acc_by_point)

    rows = []
    for order, (axis, other) in enumerate((("man_bits", "exp_bits"), ("exp_bits", "man_bits"))):
        c = cells.sort_values(["_setting", other, axis])
        sid = c["_setting"].to_numpy()
        held = c[other].to_numpy(dtype=float)
        widths = c[axis].to_numpy(dtype=float)
        means = c["mean"].to_numpy(dtype=float)
        counts = c["count"].to_numpy(dtype=float)
        # Runs of equal (setting, held width): one scan each over the ascending widths.
        starts = np.flatnonzero(np.r_[True, (sid[1:] != sid[:-1]) | (held[1:] != held[:-1])])
        ends = np.r_[starts[1:], len(sid)]
        for a, b in zip(starts, ends):
            if b - a < 2:
                continue
            reference, reference_kind = references[sid[a]]
            crit, below, acc_c, acc_b = _scan(widths[a:b], means[a:b], reference, tolerance)
            row = dict(setting_values[sid[a]])
            row.update(axis=axis, exp_bits=np.nan, man_bits=np.nan, critical=crit,
                       below=below, reference=reference, reference_kind=reference_kind,
                       accuracy_at_critical=acc_c, accuracy_below=acc_b, widths=int(b - a),
                       seeds=float(counts[a:b].mean()))
            row[other] = held[a]
            rows.append((sid[a], order, held[a], row))
    rows.sort(key=lambda r: r[:3])
    return pd.DataFrame([r[3] for r in rows], columns=out_cols)


def _point_ids(df, column):
    """Point ids that stay unique across files: (file, id) when the frame has a file column."""
    ids = df[column] if column in df else pd.Series(df.index, index=df.index)
    if "file" in df:
        return list(zip(df["file"], ids))
    return list(ids)


def _references(fp, cells, acc_by_point):
    """{setting id: (reference accuracy, kind)}: the mean accuracy of the distinct finished
    baselines linked from the setting's points, else that of its widest format."""
    out = {}
    widest = cells.sort_values(["_setting", "exp_bits", "man_bits"]).groupby("_setting")[
        "mean"].last()
    for sid, value in widest.items():
        out[sid] = (float(value), "widest")
    if "baseline_index" in fp:
        linked = fp[fp["baseline_index"] >= 0]
        links = pd.DataFrame({"_setting": linked["_setting"].to_numpy(),
                              "base": _point_ids(linked, "baseline_index")}).drop_duplicates()
        links = links.assign(acc=links["base"].map(acc_by_point)).dropna()
        for sid, value in links.groupby("_setting")["acc"].mean().items():
            out[sid] = (float(value), "baseline")
    for sid in fp["_setting"].unique():
        out.setdefault(sid, (np.nan, "none"))
    return out
