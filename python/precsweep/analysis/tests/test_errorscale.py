"""analysis/errorscale.py on a real error-scaling file: `precsweep train --save-weights` and
`precsweep errorscale --out` run here on the synthetic dataset; the loader, fit table, page
and the report's --errorscale section are checked against the file's own numbers.
Deliberately leaves out: MNIST (the C++ test checks slopes on a trained MNIST network).
"""
import os
import subprocess

import h5py
import numpy as np
import pytest

from conftest import binary
from precsweep.analysis import errorscale, report


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    exe = binary()
    work = tmp_path_factory.mktemp("errorscale")
    run = str(work / "run.h5")
    err = str(work / "err.h5")
    subprocess.run([exe, "train", "--dataset", "synthetic", "--hidden", "16", "--epochs", "2",
                    "--lr", "0.5", "--save-weights", "--out", run], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([exe, "errorscale", "--weights", run, "--dataset", "synthetic", "--samples",
                    "200", "--formats", "E8M2..E8M16", "--rounding", "nearest",
                    "--out", err], check=True, stdout=subprocess.DEVNULL)
    return work, run, err


def test_load_and_fit_table_match_the_file(files):
    _, _, err = files
    d = errorscale.load_errors(err)
    assert list(d["formats"]["name"]) == [f"E8M{m}" for m in range(2, 17)]
    assert d["attrs"]["rounding"] == "nearest_even"
    with h5py.File(err) as f:
        np.testing.assert_array_equal(d["a"]["rel"], f["a/rel"][:])
        b = f["z/fit_b"][:]
    t = errorscale.fit_table(d)
    assert len(t) == 4 * 2  # 4 quantities x 2 layers
    np.testing.assert_array_equal(t[t["quantity"] == "z"]["b (slope)"].to_numpy(), b)
    # Slopes near one bit of error per mantissa bit, bounds (stored-value constant) held.
    assert np.all(np.abs(b - 1) < 0.3)
    assert np.all(t["max ratio stored"][t["quantity"].isin(["z", "a"])] <= 1)


def test_page_and_report_section(files):
    work, run, err = files
    page = errorscale.write_page(err, str(work / "page"))
    text = open(page, encoding="utf-8").read()
    assert "errorscale_layers.png" in text and "b (slope)" in text
    for name in ["errorscale_layers.png", "errorscale_output.png", "errorscale_fits.csv",
                 "errorscale_points.csv"]:
        assert os.path.getsize(work / "page" / name) > 0
    index = report.write_report(run, str(work / "report"), errorscale=err)
    assert "Error scaling" in open(index, encoding="utf-8").read()


def test_bad_input_exit_two(files):
    work, run, _ = files
    assert errorscale.main([run, "-o", str(work / "x")]) == 2  # a results file, not errors
    assert errorscale.main([str(work / "missing.h5"), "-o", str(work / "x")]) == 2
