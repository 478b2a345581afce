"""`python3 -m precsweep.analysis.report results.h5 -o report/`: one folder with index.html, the PNG
figures and the CSV table behind each (see docs/analysis.md for what each figure shows).

Works on a partial file (a killed or still-running sweep): unfinished points are counted in
the status section and left out of the figures. The folder is drawn beside the target and
moved into place only when complete, so a failed run leaves the old report as it was and a
re-run leaves no stale files; an existing folder that is not a precsweep report is refused,
never overwritten. Exit codes: 0 written, 2 bad input (missing or unreadable file, not a
results file, output folder not replaceable) with one line on stderr.
Deliberately leaves out: the figures themselves (figures.py) and any styling beyond plain HTML.
"""
from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import sys
import tempfile

import numpy as np
import pandas as pd

from . import figures, html, interactive, recipes
from .critical import critical_bits
from .results import attributes, curves, load, result_files, search

ATTRIBUTE_ORDER = ["spec_name", "name", "spec_sha256", "schema_version", "tool_version",
                   "version", "git_commit", "compiler", "compiler_flags", "build_type", "blas",
                   "blas_core", "created_by", "mpi_size", "threads", "hostnames", "runs",
                   "n_points", "max_epochs", "axes", "start_time", "last_start_time",
                   "end_time"]


def _figure_html(item):
    if isinstance(item, figures.Skip):
        return f"<h2>{html.escape(item.title)}</h2>\n<p class='note'>{html.escape(item.note)}</p>"
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in item.notes)
    return (f"<h2>{html.escape(item.title)}</h2>\n"
            f"<figure><img src='{html.escape(item.png)}' alt='{html.escape(item.title)}'>"
            f"<figcaption>{html.escape(item.caption)} "
            f"<a href='{html.escape(item.csv)}'>data (CSV)</a></figcaption></figure>{notes}")


def _format_seconds(s):
    s = float(s)
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.1f} s"


def _status_html(df, attrs, status_item):
    counts = df["status"].value_counts()
    total = float(np.nansum(df["wall_seconds"]))
    parts = [_figure_html(status_item)]
    parts.append("<p>" + ", ".join(f"{k}: {int(counts.get(k, 0))}" for k in
                                   ["done", "pending", "diverged", "failed"]) +
                 f" of {len(df)} points. Total compute time (sum over points): "
                 f"{html.escape(_format_seconds(total))}.</p>")
    bad = df[df["status"].isin(["failed", "diverged"])]
    if len(bad):
        cols = [c for c in ["point", "status", "format", "rounding", "seed", "message"]
                if c in bad]
        parts.append("<h3>Failed and diverged points</h3>" + html.table(bad[cols], 50))
    meta = [(k, attrs[k]) for k in ATTRIBUTE_ORDER if k in attrs]
    if meta:
        rows = pd.DataFrame({"attribute": [k for k, _ in meta],
                             "value": [", ".join(map(str, v)) if isinstance(v, list) else str(v)
                                       for _, v in meta]})
        parts.append("<h3>Run</h3>" + html.table(rows))
    if "spec" in attrs:
        parts.append("<h3>Spec</h3><pre>" + html.escape(str(attrs["spec"])) + "</pre>")
    return "\n".join(parts)


MARKER = ".precsweep-report"  # marks a folder this module wrote (and may replace)


def _check_replaceable(out_dir):
    """Raises ValueError unless out_dir is absent, empty, or a report this module wrote."""
    if not os.path.lexists(out_dir):
        return
    if not os.path.isdir(out_dir) or os.path.islink(out_dir):
        raise ValueError(f"output path '{out_dir}' exists and is not a folder")
    if not os.listdir(out_dir) or os.path.exists(os.path.join(out_dir, MARKER)):
        return
    raise ValueError(f"output folder '{out_dir}' holds files that are not a precsweep report; "
                     "choose another -o or remove it")


def write_report(path, out_dir, tolerance=0.01, errorscale=None):
    """Writes out_dir/index.html with figures and CSVs; returns the path of index.html.
    errorscale: optional `precsweep errorscale --out` file, drawn as an error-scaling section.
    The folder is replaced as a whole, and only once the new one is complete."""
    _check_replaceable(out_dir)
    df = load(path)  # bad input fails here, before anything is written
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(os.path.abspath(out_dir)) + ".new-",
                           dir=parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a report is a normal folder
        _draw_report(path, df, tmp, tolerance, errorscale)
        open(os.path.join(tmp, MARKER), "w").close()
        if os.path.isdir(out_dir):
            old = tmp + ".old"
            os.rename(out_dir, old)
            os.rename(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return os.path.join(out_dir, "index.html")


def _axes_html(df):
    """"What this sweep varies": each swept axis with its values, then what is held fixed."""
    base = df["is_baseline"].astype(bool) if "is_baseline" in df else pd.Series(False, df.index)
    grid = df[~base]
    columns = [c for c in df.attrs.get("parameters", []) if c in grid] or list(grid.columns)
    widths = grid["kind"].isin(["float", "named"]).all() and grid["format"].nunique() > 1 and \
        grid["encoding"].nunique() <= 1 if "encoding" in grid else False
    if widths:  # a grid of float formats: its axes are the widths, not 17 format names
        columns = [c for c in columns if c != "format"] + ["exp_bits", "man_bits"]
    varies, fixed = [], []
    for c in columns:
        values = sorted((f"{v:g}" if isinstance(v, float) else str(v)
                         for v in pd.unique(grid[c])), key=_natural)
        (varies if len(values) > 1 else fixed).append((c, values))
    if "file" in df and df["file"].nunique() > 1:
        varies.insert(0, ("file", sorted(map(str, df["file"].unique()))))
    rows = "".join(f"<tr><th>{html.escape(c)}</th><td>{len(v)}</td><td>"
                   f"{html.escape(', '.join(v[:40]) + (' ...' if len(v) > 40 else ''))}</td></tr>"
                   for c, v in varies)
    held = ", ".join(f"{c}={v[0]}" for c, v in fixed if v)
    text = ("<h2>What this sweep varies</h2>"
            f"<p>{len(grid)} points and {int(base.sum())} fp32 baselines. Every figure below "
            "shows these axes as lines, panels or bars (anything averaged is named under the "
            "figure).</p>")
    if rows:
        text += ("<table class='axes'><tr><th>axis</th><th>values</th><th></th></tr>"
                 f"{rows}</table>")
    if held:
        text += f"<p class='note'>Held fixed: {html.escape(held)}.</p>"
    return text


def _precision_html(df, cv, out_dir):
    """"By precision": the points grouped by recipe / rounded roles, master copy and loss
    scaling (recipes.summary), with per-role overflow and flush-to-zero fractions; also
    written as precision.csv."""
    table = recipes.summary(df, cv)
    table.to_csv(os.path.join(out_dir, "precision.csv"), index=False, float_format="%.6g")
    shown = html.table(table)  # in its own scrolling box: the page never scrolls sideways
    return ("<h2>By precision</h2><p>The points grouped by what they round: the recipe (or the "
            "roles rounded without one), <code>master</code> when a master copy was kept, and "
            "the loss scaling. Accuracy over seeds; per rounded role the fraction of its values "
            "that overflowed and that were flushed to zero in the last epoch; with loss scaling "
            "the steps skipped and the final scale. Also in "
            "<a href='precision.csv'>precision.csv</a>.</p>" + shown)


def _natural(text):
    """Sort key that orders E8M2 before E8M10 and 2.0 before 10.0."""
    return [(0, float(t), "") if t[:1].isdigit() else (1, 0.0, t)
            for t in re.findall(r"\d+(?:\.\d+)?|\D+", text)]


def _critical_html(crit, tolerance):
    if not len(crit):
        return ("<h2>Critical bits</h2><p class='note'>Skipped: neither mantissa nor exponent "
                "width was swept over finished float-format points.</p>")
    shown = crit.copy()
    if shown["critical_min"].notna().any():
        shown["seed range"] = [
            "" if np.isnan(lo) and np.isnan(hi) else
            f"{lo:g} to {'none' if np.isinf(hi) else f'{hi:g}'}"
            for lo, hi in zip(shown["critical_min"], shown["critical_max"])]
    shown = shown.drop(columns=["critical_min", "critical_max"])
    shown = shown[[c for c in shown.columns if shown[c].notna().any()
                   and not (shown[c].astype(str) == "").all()]]
    held = {"man_bits": "at exponent bits", "exp_bits": "at mantissa bits"}
    parts = [f"<h2>Critical bits (tolerance {tolerance:g})</h2>"
             "<p>The smallest width whose mean accuracy over seeds, and that of every wider "
             "width swept, stays within the tolerance of the fp32 baseline; <i>below</i> is the "
             "next narrower width swept. Empty: no width qualifies. <i>seed range</i>: the "
             "critical width over leave-one-seed-out (each seed left out in turn); 'none': "
             "without some seed no width qualifies. <a href='critical_bits.csv'>data (CSV)</a>"
             "</p>"]
    for axis, rows in shown.groupby("axis", sort=False):
        rows = rows.drop(columns=["axis"]).rename(
            columns={"exp_bits" if axis == "man_bits" else "man_bits": held[axis]})
        rows = rows[[c for c in rows.columns if rows[c].notna().any()]]
        name = "mantissa" if axis == "man_bits" else "exponent"
        parts.append(f"<h3>Critical {name} width</h3>" + html.table(rows))
    return "\n".join(parts)


def _search_html(files, df, out_dir):
    """The "critical precision" section of a search-mode file: one row per setting (its swept
    parameters), the critical value found, the points it took against the grid's."""
    rows = search(files)
    if rows.empty:
        return ""
    base = df["is_baseline"].astype(bool) if "is_baseline" in df else False
    grid = df[~base]
    shown = [c for c in rows.columns if c in grid and c not in ("seed",) and
             grid[c].nunique() > 1 and c != "format"]
    table = rows[shown + ["critical", "predicted", "non_monotone", "done", "points_run",
                          "cells"]]
    table.to_csv(os.path.join(out_dir, "search.csv"), index=False)
    widths = _figure_html(figures.search_widths(rows, shown, out_dir))
    run = int((df["status"] != "pending").sum())
    axis = rows["axis"].iloc[0]
    text = (f"<h2>Critical precision (search along {html.escape(axis)})</h2>"
            f"<p>{int(rows['done'].sum())} of {len(rows)} settings done; {run} of {len(df)} "
            "grid points run (points never probed stay pending). <i>critical</i>: the smallest "
            f"{html.escape(axis)} width such that it and every wider one pass (empty: none "
            "passes, or not found yet); the same rule as the critical-bits table "
            "(docs/search.md). <i>predicted</i>: the width predicted from the setting's "
            "fp32 run (start: predict; empty: none). <a href='search.csv'>data (CSV)</a></p>")
    return text + html.table(table) + "\n" + widths


def _interactive_html(df, tolerance, out_dir):
    title = "<h2>Every point (interactive)</h2>"
    if not interactive.available():
        return title + ("<p class='note'>Skipped: python3-plotly is not installed "
                        "(scripts/setup installs it).</p>"), []
    fragment = interactive.points_figure(df, tolerance)
    if not fragment:
        return title + "<p class='note'>Skipped: no finished points yet.</p>", []
    interactive.write_plotly_js(out_dir)
    return (title + fragment + "<p class='note'>Hover a point for its parameters and "
            "accuracy; click legend entries to hide or show a group; drag to zoom, double-click"
            " to reset.</p>"), [interactive.PLOTLY_JS]


def _draw_report(path, df, out_dir, tolerance, errorscale):
    """Draws the report of results file(s) `path` (loaded as df) into the existing out_dir."""
    cv = curves(path)
    files = result_files(path)
    attrs = attributes(files[0])
    df.to_csv(os.path.join(out_dir, "points.csv"), index=False)

    crit = critical_bits(df, tolerance)
    crit.to_csv(os.path.join(out_dir, "critical_bits.csv"), index=False)
    items = [figures.accuracy_vs_mantissa(df, out_dir, tolerance),
             figures.accuracy_by_format(df, out_dir, tolerance), figures.heatmaps(df, out_dir)]
    crit_item = figures.critical_widths(crit, out_dir)
    lost = figures.lost_updates(df, out_dir)
    why = figures.why_it_fails(df, out_dir)
    curves_item = figures.training_curves(df, cv, crit, out_dir)
    status_item = figures.status_figure(df, out_dir)
    explore, scripts = _interactive_html(df, tolerance, out_dir)

    name = attrs.get("spec_name") or attrs.get("name") or os.path.basename(str(files[0]))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    shown_files = ", ".join(f"<code>{html.escape(os.path.basename(f))}</code>" for f in files)
    body = [f"<h1>precsweep report: {html.escape(str(name))}</h1>",
            f"<p>Results file{'s' if len(files) > 1 else ''} {shown_files}, written {now}. "
            "Every point with its parameters and results: <a href='points.csv'>points.csv</a>."
            " Chance accuracy is 0.1 (ten classes).</p>", _axes_html(df)]
    if recipes.varies(df):  # points differ in what they round: group them by it
        body.append(_precision_html(df, cv, out_dir))
    body += [_figure_html(i) for i in items]
    body.append(_search_html(files, df, out_dir))
    body.append(_critical_html(crit, tolerance))
    body.append(_figure_html(crit_item))
    body.append(_figure_html(lost))
    body.append(_figure_html(why))
    body.append(_figure_html(curves_item))
    body.append(explore)
    body.append(_status_html(df, attrs, status_item))
    if errorscale:  # error-scaling page (analysis/errorscale.py, issue 8)
        from .errorscale import report_section
        body.append(report_section(errorscale, out_dir))
    return html.write_page(os.path.join(out_dir, "index.html"),
                           f"precsweep report: {name}", "\n".join(body), scripts)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m precsweep.analysis.report",
                                     description="HTML report of a precsweep results file")
    parser.add_argument("results", nargs="+",
                        help="results file(s) written by `precsweep sweep`, or glob patterns; "
                             "several files are read as one sweep (load())")
    parser.add_argument("-o", "--out", default="report", help="output folder (default: report)")
    parser.add_argument("--tolerance", type=float, default=0.01,
                        help="critical bits: allowed accuracy loss vs fp32 (default 0.01)")
    parser.add_argument("--errorscale", help="add the error-scaling section of this "
                        "`precsweep errorscale --out` file")
    args = parser.parse_args(argv)
    if not 0 <= args.tolerance <= 1:
        print(f"report: error: --tolerance {args.tolerance} is not in [0, 1]", file=sys.stderr)
        return 2
    try:
        results = args.results[0] if len(args.results) == 1 else args.results
        index = write_report(results, args.out, args.tolerance, args.errorscale)
    except (FileNotFoundError, ValueError, OSError, KeyError) as e:
        print(f"report: error: {' '.join(args.results)}: {e}", file=sys.stderr)
        return 2
    print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
