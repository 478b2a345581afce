"""Interactive versions of the report's accuracy figures (plotly, offline): hovering a point
shows its parameters and accuracy. The page loads plotly.js from a file written once into the
report folder (`plotly.min.js`, from Debian's python3-plotly), so the report works without a
network. Without plotly installed the report keeps its PNGs only and says so.

One figure: every finished point of the sweep (each seed its own marker) against the axis the
sweep varies most (mantissa bits when swept, else format, else the widest swept setting), one
colour per value of the layout's line axis, with the fp32 baseline and the tolerance band.
Deliberately leaves out: the PNGs (figures.py), which remain the figures for papers.
"""
from __future__ import annotations

import os

import numpy as np

from .plotting import finished_baselines, float_points, layout, swept_settings, usable

PLOTLY_JS = "plotly.min.js"

try:
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs
except ImportError:  # the report still works; figures are PNG only
    go = None


def available():
    return go is not None


def write_plotly_js(out_dir):
    with open(os.path.join(out_dir, PLOTLY_JS), "w", encoding="utf-8") as f:
        f.write(get_plotlyjs())


def _x_axis(pts, settings):
    floats = float_points(pts)
    if len(floats) == len(pts) and floats["man_bits"].nunique() >= 3:
        return "man_bits"
    if pts["format"].nunique() > 1:
        return "format"
    return max(settings, key=lambda a: pts[a].nunique()) if settings else "format"


def _hover(pts, columns):
    lines = []
    for _, r in pts.iterrows():
        parts = [f"{c}={r[c]}" for c in columns]
        parts.append(f"accuracy={r['accuracy']:.4f} ({r['status']})")
        lines.append("<br>".join(parts))
    return lines


def points_figure(df, tolerance):
    """An HTML fragment (a div and its script) with every finished non-baseline point, or ""
    when plotly is missing or nothing is finished."""
    if go is None:
        return ""
    base = df["is_baseline"].astype(bool) if "is_baseline" in df else False
    pts = usable(df[~base])
    if pts.empty:
        return ""
    settings = swept_settings(pts)
    x = _x_axis(pts, settings)
    hue = layout(pts, [s for s in settings if s != x]).hue
    shown = ["point", "format"] + [s for s in settings if s != "format"] + ["seed"]
    if "file" in pts and pts["file"].nunique() > 1:
        shown.insert(0, "file")
    fig = go.Figure()
    for value in (sorted(pts[hue].unique(), key=str) if hue else [None]):
        sel = pts[pts[hue] == value] if hue else pts
        fig.add_trace(go.Scatter(
            x=sel[x].astype(float if x == "man_bits" else str), y=sel["accuracy"],
            mode="markers", name=f"{hue}={value}" if hue else "points",
            marker={"size": 7, "opacity": 0.75}, hovertext=_hover(sel, shown),
            hoverinfo="text"))
    b = finished_baselines(df)
    if len(b):
        ref = float(b["final_test_accuracy"].mean())
        fig.add_hline(y=ref, line_dash="dash", line_color="black",
                      annotation_text="fp32 baseline")
        fig.add_hrect(y0=ref - tolerance, y1=ref, fillcolor="grey", opacity=0.15, line_width=0)
    low = np.nanpercentile(pts["accuracy"], 5) if len(pts) > 1 else 0.0
    fig.update_layout(height=460, margin={"l": 60, "r": 20, "t": 30, "b": 60},
                      xaxis_title=x, yaxis_title="final test accuracy",
                      legend_title_text=hue or "", template="plotly_white")
    fig.update_yaxes(range=[max(0.0, min(low, b["final_test_accuracy"].min() - 8 * tolerance
                                         if len(b) else low) - 0.01), 1.0])
    return fig.to_html(full_html=False, include_plotlyjs=False)
