"""precsweep.analysis.recipes on a real tiny recipes sweep (2 ranks, synthetic data): one row
per precision setting, a recipe without its master copy or loss scaling kept apart from the
recipe, roles the setting does not round left empty, and the report's "By precision" section.
Deliberately leaves out: accuracy values (they belong to the study, docs/results.md).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import PYTHON_DIR, run_sweep
from precsweep.analysis import curves, load
from precsweep.analysis.recipes import summary, varies

RECIPES_SPEC = """\
name: recipes-test
dataset: synthetic
epochs: 2
seed: [1, 2]
model: {hidden: [16], activation: relu}
train: {lr: 0.5, batch: 32}
variants:
  - precision: {recipe: [fp32, fp16-mixed, fp8-wang2018]}
  - precision: {recipe: fp16-mixed, master_weights: false, loss_scale: none}
  - precision: {errors: {format: E3M2, rounding: stochastic}}
  - precision: {activations: mxfp4}
"""


@pytest.fixture(scope="module")
def recipes_file(tmp_path_factory):
    return run_sweep(RECIPES_SPEC, tmp_path_factory.mktemp("recipes"), "recipes")


def test_one_row_per_setting(recipes_file):
    df = load(recipes_file)
    assert varies(df)
    t = summary(df, curves(recipes_file))
    assert list(t["precision"]) == [
        "fp32", "fp16-mixed, master, loss_scale=dynamic", "fp8-wang2018, master", "fp16-mixed",
        "errors=E3M2:stochastic", "activations=mxfp4:nearest_even"]
    assert (t["runs"] == 2).all()
    assert bool(df.loc[df["recipe"] == "fp16-mixed", "master_copy"].any())
    fp32 = t[t["precision"] == "fp32"].iloc[0]
    assert np.isnan(fp32["errors_underflow"])  # fp32 rounds no role: no claim about it
    hand = t[t["precision"] == "errors=E3M2:stochastic"].iloc[0]
    assert np.isnan(hand["weights_underflow"]) and not np.isnan(hand["errors_underflow"])
    scaled = t[t["precision"] == "fp16-mixed, master, loss_scale=dynamic"].iloc[0]
    assert scaled["final_loss_scale"] > 1 and scaled["skipped_steps"] >= 0
    assert t[t["precision"] == "fp16-mixed"].iloc[0]["final_loss_scale"] == 1
    mx = t[t["precision"] == "activations=mxfp4:nearest_even"].iloc[0]
    assert mx["activations_clamped_blocks"] >= 0 and np.isnan(hand.get("activations_clamped_blocks"))


def test_report_groups_by_precision(recipes_file, tmp_path):
    out = tmp_path / "report"
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, "-m", "precsweep.analysis.report", str(recipes_file),
                          "-o", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    page = (out / "index.html").read_text()
    assert "By precision" in page and "fp8-wang2018, master" in page
    assert (out / "precision.csv").read_text().count("\n") == 7
