"""Figure helpers on constructed frames: which exponent width mantissa curves are read at,
per-value baselines, and the sparse-format-list rule (heat map skipped, bars drawn).
Deliberately leaves out: drawing checks on real data (test_report.py).
"""
import numpy as np
import pandas as pd
import pytest

from precsweep.analysis import figures


def frame(formats, hidden=("16",), with_baselines=True):
    """formats: [(exp, man)]; one point per (format, hidden, seed 1..2), accuracy = man/20;
    baselines per (hidden, seed) with accuracy 0.9 + 0.01 * len(hidden)."""
    rows = []
    for h in hidden:
        for seed in (1, 2):
            if with_baselines:
                rows.append(dict(format="E8M23", exp_bits=8.0, man_bits=23.0, hidden=h,
                                 seed=seed, is_baseline=True,
                                 final_test_accuracy=0.9 + 0.01 * len(h)))
            for e, m in formats:
                rows.append(dict(format=f"E{e}M{m}", exp_bits=float(e), man_bits=float(m),
                                 hidden=h, seed=seed, is_baseline=False,
                                 final_test_accuracy=m / 20))
    df = pd.DataFrame(rows)
    df.insert(0, "point", np.arange(len(df)))
    df["rounding"] = "toward_zero"
    df["kind"] = pd.Categorical(["float"] * len(df), ["float", "named", "fixed", "unknown"])
    df["status"] = pd.Categorical(["done"] * len(df), ["pending", "done", "diverged", "failed"])
    df["baseline_index"] = -1
    return df


def test_mantissa_curves_are_read_at_the_exponent_with_most_widths():
    # E5 has three mantissa widths, E8 one (bf16-like): read at E5, not at the widest E8.
    pts = frame([(5, 2), (5, 4), (5, 10), (8, 7), (4, 3)])
    assert figures.mantissa_exponent(pts[~pts["is_baseline"]]) == 5.0
    # Ties go to the widest exponent.
    pts = frame([(5, 2), (5, 4), (8, 2), (8, 4)])
    assert figures.mantissa_exponent(pts[~pts["is_baseline"]]) == 8.0
    # No exponent width with two mantissa widths: nothing to draw.
    pts = frame([(5, 2), (8, 7), (4, 3)])
    assert figures.mantissa_exponent(pts[~pts["is_baseline"]]) is None


def test_per_value_baselines_only_for_training_parameters():
    df = frame([(8, 2), (8, 4)], hidden=("16", "32,16"))
    per_value = figures.baseline_by(df, "hidden")
    assert per_value == pytest.approx({"16": 0.92, "32,16": 0.95})
    assert figures.baseline_by(df, "rounding") is None  # a policy column: one fp32 run
    assert figures.baseline_by(frame([(8, 2), (8, 4)]), "hidden") is None  # one value


def test_sparse_format_list_gets_bars_not_a_heat_map(tmp_path):
    df = frame([(5, 2), (5, 10), (8, 7), (4, 3)])  # 4 of 3 x 4 = 12 combinations
    skip = figures.heatmaps(df, str(tmp_path))
    assert isinstance(skip, figures.Skip) and "sparse list" in skip.note
    bars = figures.accuracy_by_format(df, str(tmp_path))
    assert isinstance(bars, figures.Figure)
    table = pd.read_csv(tmp_path / bars.csv).set_index("format")
    assert table.loc["E5M10", "mean"] == 0.5 and table.loc["E4M3", "mean"] == 0.15
    # A full grid is the heat map's job: bars skipped, heat map drawn.
    grid = frame([(e, m) for e in (5, 8) for m in (2, 4, 6)])
    assert isinstance(figures.accuracy_by_format(grid, str(tmp_path)), figures.Skip)
    heat = figures.heatmaps(grid, str(tmp_path))
    assert isinstance(heat, figures.Figure)
    cells = pd.read_csv(tmp_path / heat.csv)
    assert len(cells) == 6 and np.allclose(cells["mean"], cells["man_bits"] / 20)
