"""The report shows what a sweep varies (issue 21), on real small sweeps: a list of formats
applied at three sites keeps the sites apart and fp8-e4m3 apart from E4M3; one epoch gives no
training-curve figure; the critical table has no empty column and a seed range; the page names
the swept axes; the y-axis is zoomed to the tolerance band; several files load as one frame;
fp32 baselines carry no rounding mode.
Deliberately leaves out: rendering in a browser (test_browser.py).
"""
import shutil

import numpy as np
import pandas as pd
import pytest

from precsweep.analysis import critical_bits, curves, load
from precsweep.analysis.plotting import usable, y_window
from precsweep.analysis.results import BASELINE_ROUNDING, parse_format
from test_browser import write_report


def test_site_comparison_is_drawn_not_averaged(sites_file, tmp_path):
    report = write_report(sites_file, tmp_path / "r")
    bars = pd.read_csv(report / "accuracy_by_format.csv")
    assert set(bars["apply_to"]) == {"weights", "activations", "gradients"}
    assert {"fp8-e4m3", "E4M3"} <= set(bars["format"])  # OCP E4M3FN is not IEEE-like E4M3
    df = load(sites_file)
    grid = usable(df[~df["is_baseline"]])  # diverged points count, as in critical_bits
    for (fmt, site), g in grid.groupby(["format", "apply_to"]):
        row = bars[(bars["format"] == fmt) & (bars["apply_to"] == site)]
        assert row["mean"].iloc[0] == pytest.approx(g.groupby("seed")["accuracy"].mean().mean())
    text = (report / "index.html").read_text()
    assert "What this sweep varies" in text and "apply_to" in text
    assert not (report / "training_curves.png").exists()
    assert "a curve needs two" in text
    assert (report / "why_it_fails.png").exists()


def test_grid_report_marks_and_tables(report_dir, sweep_file):
    text = (report_dir / "index.html").read_text()
    assert "seed range" in text and "at exponent bits" in text
    assert "<th>man_bits</th>" not in text.split("Critical mantissa width", 1)[1].split(
        "</table>", 1)[0]  # the held width is named, empty columns are dropped
    lines = pd.read_csv(report_dir / "accuracy_vs_mantissa.csv")
    assert {"rounding", "exp_bits", "baseline", "critical"} <= set(lines.columns)
    crit = critical_bits(load(sweep_file), 0.01)
    man = crit[crit["axis"] == "man_bits"]
    for r in man.itertuples():  # the marks drawn are the table's critical widths
        drawn = lines[(lines["rounding"] == r.rounding) & (lines["exp_bits"] == r.exp_bits)]
        assert np.allclose(drawn["critical"].iloc[0], r.critical, equal_nan=True)
    assert (report_dir / "critical_widths.png").exists()


def test_y_axis_zooms_to_the_band():
    low, high = y_window([0.1, 0.5, 0.97, 0.975], [0.98], 0.01)
    assert 0.89 <= low <= 0.9 and 0.98 < high <= 1.005
    # Never below chance, and without a baseline the data's own range.
    low, _ = y_window([0.1, 0.2], [0.3], 0.05)
    assert low >= 0.05
    low, high = y_window([0.5, 0.6], [np.nan], 0.01)
    assert low < 0.5 and high > 0.6


def test_several_files_and_a_glob_load_as_one_frame(sweep_file, tmp_path):
    a, b = tmp_path / "run-a.h5", tmp_path / "run-b.h5"
    shutil.copy(sweep_file, a)
    shutil.copy(sweep_file, b)
    one = load(sweep_file)
    both = load([a, b])
    assert len(both) == 2 * len(one) and list(both["file"].unique()) == [str(a), str(b)]
    assert both.equals(load(str(tmp_path / "run-*.h5")))
    np.testing.assert_array_equal(both["baseline_accuracy"].to_numpy()[len(one):],
                                  one["baseline_accuracy"].to_numpy())
    pooled, single = critical_bits(both), critical_bits(one)
    np.testing.assert_allclose(pooled["critical"], single["critical"], equal_nan=True)
    cv = curves([a, b])
    assert len(cv) == 2 * len(curves(sweep_file)) and set(cv["file"]) == {str(a), str(b)}
    with pytest.raises(FileNotFoundError, match="no results file matches"):
        load(str(tmp_path / "nothing-*.h5"))


def test_baselines_have_no_rounding_mode_and_formats_keep_their_encoding(sweep_file):
    df = load(sweep_file)
    assert (df.loc[df["is_baseline"], "rounding"] == BASELINE_ROUNDING).all()
    assert BASELINE_ROUNDING not in set(df.loc[~df["is_baseline"], "rounding"])
    assert parse_format("fp8-e4m3")[0::5] == ("named", "fn")
    assert parse_format("E4M3")[0::5] == ("float", "ieee")
    assert parse_format("E5M2,fnuz,saturate")[5] == "fnuz"
    assert parse_format("mxfp8-e4m3")[0] == "block"


SEARCH_SPEC = """\
name: search-test
dataset: synthetic
epochs: 2
seed: [1, 2]
model: {hidden: [16], activation: sigmoid}
train: {lr: [0.5, 0.1], batch: 32}
precision:
  format: {exp: 8, man: {from: 0, to: 12, step: 1}}
  rounding: toward_zero
baseline: true
search: {axis: man, tolerance: 0.01}
"""


def test_search_rows_and_their_report_section(tmp_path):
    from precsweep.analysis import search
    from conftest import run_sweep
    path = run_sweep(SEARCH_SPEC, tmp_path, "search")
    rows = search(path)
    assert len(rows) == 2 and rows["done"].all() and (rows["axis"] == "man").all()
    assert set(rows["lr"]) == {0.5, 0.1} and (rows["format"] == "E8M*").all()
    # The answer equals critical_bits on the probed cells of the same file (one rule).
    crit = critical_bits(load(path), 0.01)
    crit = crit[crit["axis"] == "man_bits"].set_index("lr")["critical"]
    for r in rows.itertuples():
        assert r.critical == crit[r.lr] or (np.isnan(r.critical) and np.isnan(crit[r.lr]))
    report = write_report(path, tmp_path / "r")
    text = (report / "index.html").read_text()
    assert "Critical precision (search along man)" in text
    table = pd.read_csv(report / "search.csv")
    assert list(table["critical"].fillna(-1)) == list(rows["critical"].fillna(-1))


def test_predicted_search_reads_the_histograms_and_marks_the_prediction(tmp_path):
    from precsweep.analysis import search, update_ratio
    from precsweep.analysis.results import last_histogram, predict_width
    from conftest import run_sweep
    path = run_sweep(SEARCH_SPEC.replace("tolerance: 0.01}", "tolerance: 0.01, start: predict}"),
                     tmp_path, "predict")
    rows = search(path)
    assert len(rows) == 2 and rows["done"].all() and rows["predicted"].notna().all()
    df = load(path)
    hist = update_ratio(path)
    assert hist.shape[1:] == (2, 2, 43)  # epochs, layers (784-h-10), bins
    base = df[df["is_baseline"]]
    # Only the fp32 points record, every epoch; the rule in Python gives the file's prediction
    # from the setting's first baseline (its lowest point id).
    assert (hist[~df["is_baseline"].to_numpy()] == 0).all()
    assert (hist[base["point"].to_numpy()].sum(axis=3) > 0).all()
    crit = critical_bits(df, 0.01)
    crit = crit[crit["axis"] == "man_bits"].set_index("lr")["critical"]
    for r in rows.itertuples():
        first = base[base["lr"] == r.lr]["point"].min()
        assert r.predicted == predict_width(last_histogram(hist[first]), "toward_zero")
        assert r.critical == crit[r.lr] or (np.isnan(r.critical) and np.isnan(crit[r.lr]))
    report = write_report(path, tmp_path / "r")
    assert (report / "search_widths.png").exists()
    table = pd.read_csv(report / "search_widths.csv")
    assert list(table["predicted"]) == list(rows["predicted"])
    assert "predicted" in (report / "index.html").read_text()


def test_without_baseline_points_the_fp32_runs_are_the_reference():
    from precsweep.analysis.plotting import finished_baselines
    df = pd.DataFrame({
        "format": ["E8M23", "E8M23", "E8M23", "E5M2"],
        "recipe": ["fp32", "fp16-mixed", "none", "none"],
        "round_weights": ["", "E5M10:nearest_even", "", "E5M2:toward_zero"],
        "status": ["done"] * 4, "final_test_accuracy": [0.9, 0.8, 0.7, 0.6]})
    # A recipe rounds although its shorthand format is fp32: only runs that round nothing count.
    assert list(finished_baselines(df)["final_test_accuracy"]) == [0.9, 0.7]
    df["is_baseline"] = [False, False, False, True]
    assert list(finished_baselines(df)["final_test_accuracy"]) == [0.6]  # marked ones win
