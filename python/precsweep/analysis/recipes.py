"""Precision-recipe summaries (docs/training.md, "Precision recipes"): the points grouped by what
was rounded -- the recipe, or the roles a spec rounds without one, master copy and loss scaling
-- with the accuracy over seeds and the evidence of why a setting fails: per role the fraction
of values that overflowed and that were flushed to zero, steps skipped by dynamic loss scaling
and the final loss scale, per-tensor scaling that was exceeded anyway.

    from precsweep.analysis.recipes import summary
    table = summary(load("recipes.h5"), curves("recipes.h5"))

`python3 -m precsweep.analysis.recipes FILE [-o table.csv]` prints (or writes) the table.
Deliberately leaves out: figures (the report draws this table as HTML), and any claim about a
role the file did not round (its columns are left out, not reported as 0).
"""
import argparse
import sys

import numpy as np
import pandas as pd

from .results import ROLES, curves, load

# The columns that say what a run rounded, when the file has them (files from before recipes
# get them from load(), derived from the shorthand).
PRECISION_COLUMNS = ["recipe"] + [f"round_{r}" for r in ROLES] + ["master_copy", "loss_scaling"]
# A round_<role> text naming a block format (docs/formats.md, "Block formats").
BLOCK_FORMAT = r"(mx|nvfp4)"


def precision_label(row):
    """One text per precision setting: the recipe (`none`: the roles it rounds, or fp32), then
    `master` when a master copy was kept, then the loss scaling when there is one."""
    recipe = str(row.get("recipe", "none") or "none")
    if recipe == "none":
        roles = [f"{r}={row[f'round_{r}']}" for r in ROLES
                 if str(row.get(f"round_{r}", "") or "")]
        label = " ".join(roles) if roles else "fp32"
    else:
        label = recipe
    if bool(row.get("master_copy", False)):
        label += ", master"
    loss = str(row.get("loss_scaling", "none") or "none")
    if loss != "none":
        label += f", loss_scale={loss}"
    return label


def varies(df):
    """Whether the points differ in what they round (then the report shows the table)."""
    return any(c in df and df[c].astype(str).nunique() > 1 for c in PRECISION_COLUMNS)


def summary(df, cv=None):
    """One row per (dataset, precision): runs, done, diverged, test accuracy over seeds (mean,
    std, min, max of final_test_accuracy over finished runs), the fraction of weight updates
    lost to rounding (mean over epochs and runs), and for each role some point
    rounded: the mean over runs of its last epoch's overflow and underflow (flush-to-zero)
    fractions; with loss scaling, steps skipped (summed over epochs, `cv` = curves(); mean over
    runs) and the final loss scale; with per-tensor scaling, the fraction of tensors whose amax
    exceeded the range anyway; with a block format, the fraction of blocks whose scale was
    clamped (last epoch). Rows in the file's point order of first appearance."""
    df = df.copy()
    df["precision"] = [precision_label(r) for _, r in df.iterrows()]
    keys = ["dataset", "precision"] if "dataset" in df else ["precision"]
    if cv is not None and "skipped_steps" in cv:
        per_point = cv.groupby(["file", "point"])["skipped_steps"].sum(min_count=1)
        df["skipped_steps_total"] = [per_point.get((f, p), np.nan)
                                     for f, p in zip(df["file"], df["point"])]
    rounded = [r for r in ROLES if f"round_{r}" in df and (df[f"round_{r}"].astype(str) != "").any()]
    scaled = [r for r in rounded if df[f"round_{r}"].astype(str).str.contains("current|delayed").any()]
    blocked = [r for r in rounded if df[f"round_{r}"].astype(str).str.match(BLOCK_FORMAT).any()]
    loss_on = "loss_scaling" in df and (df["loss_scaling"].astype(str) != "none").any()
    rows = []
    for key, g in df.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        ok = g[g["status"].astype(str) == "done"]
        acc = g["final_test_accuracy"].dropna()
        row = dict(zip(keys, key))
        row.update(runs=len(g), done=len(ok), diverged=int((g["status"].astype(str) == "diverged").sum()),
                   acc_mean=acc.mean(), acc_std=acc.std(ddof=1) if len(acc) > 1 else np.nan,
                   acc_min=acc.min(), acc_max=acc.max())
        if "mean_lost_update_fraction" in g:  # updates lost to the weights' rounding (swamping)
            row["lost_updates"] = g["mean_lost_update_fraction"].mean()
        for r in rounded:  # NaN where this setting does not round the role
            on = (g[f"round_{r}"].astype(str) != "").any()
            for part in ("overflow", "underflow"):
                col = f"final_{r}_{part}_fraction"
                if col in g:
                    row[f"{r}_{part}"] = g[col].mean() if on else np.nan
        for r in scaled:
            col = f"final_{r}_amax_exceeded"
            if col in g:
                on = g[f"round_{r}"].astype(str).str.contains("current|delayed").any()
                row[f"{r}_amax_exceeded"] = g[col].mean() if on else np.nan
        for r in blocked:
            col = f"final_{r}_clamped_block_fraction"
            if col in g:
                on = g[f"round_{r}"].astype(str).str.match(BLOCK_FORMAT).any()
                row[f"{r}_clamped_blocks"] = g[col].mean() if on else np.nan
        if loss_on:
            if "skipped_steps_total" in g:
                row["skipped_steps"] = g["skipped_steps_total"].mean()
            if "final_loss_scale" in g:
                row["final_loss_scale"] = g["final_loss_scale"].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m precsweep.analysis.recipes",
                                 description="Accuracy and overflow/underflow per precision "
                                             "setting of a results file (or glob of files)")
    ap.add_argument("results", help="results file(s): a path or a glob pattern")
    ap.add_argument("-o", "--out", help="write the table as CSV here instead of printing it")
    a = ap.parse_args(argv)
    try:
        table = summary(load(a.results), curves(a.results))
    except (OSError, ValueError, KeyError) as e:
        print(f"precsweep.analysis.recipes: {e}", file=sys.stderr)
        return 2
    if a.out:
        table.to_csv(a.out, index=False, float_format="%.6g")
    else:
        with pd.option_context("display.max_rows", None, "display.width", 200,
                               "display.max_columns", None):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
