"""load() and curves() on the results file of a real tiny sweep (conftest.sweep_file): rows,
columns, the format split, baseline links, per-epoch curves, a partial file (pending rows
are marked and carry no metrics), and a file held open by a writer.
Deliberately leaves out: the report (test_report.py) and critical_bits' rule (test_critical.py).
"""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from precsweep.analysis import attributes, curves, load
from precsweep.analysis.results import OLD_LAYOUT_EPOCH_METRICS, OLD_LAYOUT_PARAMETERS
from conftest import (EPOCHS, EXP_WIDTHS, FAILED_POINT, GRID_POINTS, MAN_WIDTHS, ROUNDINGS,
                      SEEDS)


def test_one_row_per_point_with_every_parameter(sweep_file):
    df = load(sweep_file)
    with h5py.File(sweep_file, "r", locking=False) as f:
        n = f["results/status"].shape[0]
    assert len(df) == n
    assert list(df["point"]) == list(range(n))
    for col in attributes(sweep_file)["parameters"] + ["is_baseline", "kind", "exp_bits", "man_bits", "status",
                             "final_test_accuracy", "wall_seconds", "rank", "baseline_index",
                             "message", "baseline_accuracy", "acc_delta", "epochs_run",
                             "mean_lost_update_fraction"]:
        assert col in df.columns, col
    grid = df[~df["is_baseline"]]
    assert len(grid) == GRID_POINTS
    # The grid is the full product of the swept axes, each combination exactly once.
    combos = set(zip(grid["seed"], grid["exp_bits"], grid["man_bits"], grid["rounding"]))
    assert combos == {(s, float(e), float(m), r) for s in SEEDS for e in EXP_WIDTHS
                      for m in MAN_WIDTHS for r in ROUNDINGS}
    assert set(grid["format"]) == {f"E{e}M{m}" for e in EXP_WIDTHS for m in MAN_WIDTHS}
    assert (grid["kind"] == "float").all()
    assert set(grid["dataset"]) == {"synthetic"} and set(grid["hidden"]) == {"16"}
    assert (df["epochs"] == EPOCHS).all()


def test_finished_sweep_has_results_and_baselines(sweep_file):
    df = load(sweep_file)
    failed = df[df["status"] == "failed"]
    assert list(failed["point"]) == [FAILED_POINT]
    assert (failed["format"] == "E5M10").all() and (failed["rounding"] == "toward_zero").all()
    assert failed["final_test_accuracy"].isna().all() and failed["acc_delta"].isna().all()
    assert "injected failure" in failed["message"].iloc[0]
    rest = df[df["status"] != "failed"]
    assert set(rest["status"].unique()) <= {"done", "diverged"}
    assert (rest["message"] != "").sum() == (rest["status"] == "diverged").sum()
    done = df[df["status"] == "done"]
    assert done["final_test_accuracy"].between(0, 1).all()
    assert (done["epochs_run"] == EPOCHS).all()
    assert (df.loc[failed.index, "epochs_run"] == 0).all()
    assert (rest["wall_seconds"] > 0).all() and set(df["rank"]) <= {0.0, 1.0}
    base = df[df["is_baseline"]]
    assert len(base) >= 1 and (base["format"].isin(["fp32", "E8M23"])).all()
    grid = df[~df["is_baseline"]]
    # Every grid point links to a baseline of the same seed; acc_delta is the difference.
    assert (grid["baseline_index"] >= 0).all()
    linked = df.set_index("point").loc[grid["baseline_index"]]
    assert (linked["is_baseline"]).all()
    assert (linked["seed"].to_numpy() == grid["seed"].to_numpy()).all()
    expected = grid["final_test_accuracy"].to_numpy() - linked["final_test_accuracy"].to_numpy()
    np.testing.assert_allclose(grid["acc_delta"], expected)
    # The synthetic task is learnable: fp32 is well above chance (10 classes).
    assert base["final_test_accuracy"].min() > 0.3


def test_curves_long_form_matches_final_metrics(sweep_file):
    df = load(sweep_file)
    cv = curves(sweep_file)
    assert list(cv.columns[:4]) == ["file", "point", "epoch", "status"]
    for m in attributes(sweep_file)["epoch_metrics"]:
        assert m in cv.columns
    assert len(cv) == int(df["epochs"].sum())
    assert cv.groupby("point")["epoch"].apply(list).map(lambda e: e == [1, 2, 3]).all()
    last = cv[cv["epoch"] == EPOCHS].set_index("point")
    done = df[df["status"] == "done"].set_index("point")
    np.testing.assert_allclose(last.loc[done.index, "test_accuracy"],
                               done["final_test_accuracy"])
    assert cv["lost_update_fraction"].dropna().between(0, 1).all()


def test_attributes_decode_strings(sweep_file):
    attrs = attributes(sweep_file)
    assert "name: analysis-test" in attrs["spec"]
    assert len(attrs["spec_sha256"]) == 64
    assert isinstance(attrs.get("spec_name", attrs.get("name")), str)


@pytest.fixture
def partial_file(sweep_file, tmp_path):
    """A copy of the sweep file with some rows set back to pending, as a killed sweep leaves
    them (metrics may hold anything; status 0 says they are not valid)."""
    path = tmp_path / "partial.h5"
    shutil.copy(sweep_file, path)
    with h5py.File(path, "r+") as f:
        status = f["results/status"][()]
        baseline_rows = np.flatnonzero(f["points/is_baseline"][()] != 0)
        pending = np.array([0, 3, int(baseline_rows[0])])
        status[pending] = 0
        f["results/status"][...] = status
    return path, pending


def test_partial_file_marks_pending_rows(partial_file):
    path, pending = partial_file
    df = load(path)
    assert (df.loc[pending, "status"] == "pending").all()
    assert df.loc[pending, "final_test_accuracy"].isna().all()
    assert df.loc[pending, "mean_lost_update_fraction"].isna().all()
    assert (df.loc[pending, "epochs_run"] == 0).all()
    # Points whose baseline is pending have no acc_delta; the others still do.
    orphan = df["baseline_index"] == pending[-1]
    assert orphan.any() and df.loc[orphan, "acc_delta"].isna().all()
    others = df[~orphan & (df["status"] == "done") & (df["baseline_index"] >= 0)]
    assert len(others) and others["acc_delta"].notna().all()
    cv = curves(path)
    assert cv[cv["point"].isin(pending)]["test_accuracy"].isna().all()
    assert (cv[cv["point"].isin(pending)]["status"] == "pending").all()


WRITER = """
import sys, h5py
f = h5py.File(sys.argv[1], "r+")
f["results/status"][0] = 0
f.flush()
print("ready", flush=True)
sys.stdin.readline()
f.close()
"""


def test_load_while_a_writer_holds_the_file(partial_file):
    path, _ = partial_file
    env = {k: v for k, v in os.environ.items() if k != "HDF5_USE_FILE_LOCKING"}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        df = load(path)
        assert df.loc[0, "status"] == "pending"
        assert (df["status"] == "done").sum() > 0
        assert len(curves(path)) == int(df["epochs"].sum())
    finally:
        writer.communicate("close\n", timeout=60)
    assert writer.returncode == 0


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such results file"):
        load(tmp_path / "nope.h5")


def test_load_during_a_running_sweep_and_after_it_is_stopped(tmp_path):
    """A real 2-rank sweep, read while it runs (MPI-IO writer holding the file), then stopped
    with SIGTERM: every read sees complete finished rows and pending rows without metrics.
    The sweep is kept running by events, not by its length: with the test-only hold file
    (docs/sweeping.md) it trains 4 points, then each rank holds its next point mid-training
    until the file goes or a stop signal comes."""
    import signal
    import time

    from conftest import SOURCE_DIR, TINY_SPEC, binary
    exe = binary()
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    out = tmp_path / "running.h5"
    log = tmp_path / "running.log"
    hold = tmp_path / "hold"
    hold.touch()
    env = dict(os.environ, OMP_NUM_THREADS="1", PRECSWEEP_TEST_HOLD_FILE=str(hold),
               PRECSWEEP_TEST_HOLD_AFTER="4")
    with open(log, "w") as stdout:
        sweep = subprocess.Popen([os.path.join(SOURCE_DIR, "scripts", "mpirun"), "-np", "2", exe,
                                  "sweep", str(spec), "--out", str(out), "--threads", "1",
                                  "--progress", "0"],
                                 stdout=stdout, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # Both ranks hold a point (a bound of 300 s only turns a broken build into a failure).
        deadline = time.monotonic() + 300
        while log.read_text().count("held after epoch") < 2:
            assert sweep.poll() is None, f"the sweep ended while it should hold: {log.read_text()}"
            assert time.monotonic() < deadline, "the sweep never held its points"
            time.sleep(0.05)
        for _ in range(3):
            df = load(out)
            finished = df["status"].isin(["done", "diverged"])
            assert finished.sum() == 4
            assert df.loc[finished, "final_test_accuracy"].notna().all()
            assert df.loc[df["status"] == "pending", "final_test_accuracy"].isna().all()
            assert len(curves(out)) == int(df["epochs"].sum())
        assert sweep.poll() is None, "the sweep was not running while it was read"
        sweep.send_signal(signal.SIGTERM)  # stop now: the held points are abandoned
        _, err = sweep.communicate(timeout=300)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 3, f"exit {sweep.returncode}: {log.read_text()}\n{err}"
    df = load(out)
    finished = df["status"].isin(["done", "diverged"])
    assert finished.sum() == 4
    assert (df.loc[finished, "epochs_run"] > 0).all()
    assert df.loc[~finished, "final_test_accuracy"].isna().all()
    assert (df.loc[~finished, "epochs_run"] == 0).all()
    cv = curves(out)
    assert cv[cv["point"].isin(df.loc[~finished, "point"])]["test_accuracy"].isna().all()


def test_file_records_the_parameter_and_metric_tables(sweep_file):
    """The writer's table is in the file: every listed parameter is a /points column of its
    kind, every listed metric a /results dataset; the old layout's names are all still there."""
    attrs = attributes(sweep_file)
    kinds = {"text": "S", "f64": "f", "i32": "i", "u64": "u", "i8": "i"}
    assert len(attrs["parameters"]) == len(attrs["parameter_kinds"])
    with h5py.File(sweep_file, "r", locking=False) as f:
        for name, kind in zip(attrs["parameters"], attrs["parameter_kinds"]):
            assert f["points"][name].dtype.kind == kinds[kind], name
        for name in attrs["epoch_metrics"]:
            assert f["results"][name].ndim == 2, name
        for name in attrs["run_metrics"]:
            assert f["results"][name].ndim == 1, name
    assert set(OLD_LAYOUT_PARAMETERS) <= set(attrs["parameters"])
    # The old metrics first, in their order; metrics added since (the recipes') follow.
    assert attrs["epoch_metrics"][:len(OLD_LAYOUT_EPOCH_METRICS)] == OLD_LAYOUT_EPOCH_METRICS
    assert list(load(sweep_file).columns[2:2 + len(attrs["parameters"])]) == attrs["parameters"]
