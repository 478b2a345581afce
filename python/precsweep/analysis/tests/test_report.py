"""The HTML report of a real tiny sweep: every figure is written, is a real 150 dpi picture
(not blank), the HTML references only files that exist, the CSVs hold what the figures show,
axes that were not swept are skipped with a note, a partial file still gives a report, and
`precsweep report` runs the same thing (exit 2 with one line for a missing file).
Deliberately leaves out: judging the figures' looks (a person does that).
"""
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib import image as mpimg
from PIL import Image

from precsweep.analysis import critical_bits, figures, load
from conftest import EXP_WIDTHS, MAN_WIDTHS, PYTHON_DIR, ROUNDINGS, SOURCE_DIR, binary

EXPECTED_FIGURES = ["heatmap.png", "accuracy_vs_mantissa.png", "lost_updates.png",
                    "training_curves.png", "status.png"]


def referenced(index):
    text = index.read_text()
    return text, re.findall(r"(?:src|href)='([^']+)'", text)


def assert_not_blank(png):
    pixels = mpimg.imread(png)  # [height, width, channels] floats in [0, 1]
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    rgb = pixels[..., :3]
    assert rgb.var() > 1e-3, f"{png} looks blank"
    q = (rgb.reshape(-1, 3) * 255).astype(np.uint32)  # [pixels, 3]
    colours = np.unique(q[:, 0] << 16 | q[:, 1] << 8 | q[:, 2])
    assert len(colours) > 20, f"{png} has only {len(colours)} colours"


def test_report_writes_every_figure_and_only_references_existing_files(report_dir):
    index = report_dir / "index.html"
    text, links = referenced(index)
    assert links, "no figures or tables referenced"
    for link in links:
        assert not os.path.isabs(link) and (report_dir / link).is_file(), link
    for name in EXPECTED_FIGURES:
        assert name in links
        assert (report_dir / name.replace(".png", ".csv")).is_file()
    for name in ["points.csv", "critical_bits.csv"]:
        assert name in links
    # The tiny sweep's formats are a full E x M grid: bars skipped with a note, not drawn.
    assert "accuracy_by_format.png" not in links
    assert "the formats form a full exponent x mantissa grid" in text
    # The injected failure is listed with its message in the status section.
    assert "Failed and diverged points" in text and "injected failure" in text
    for section in ["Final test accuracy over exponent x mantissa bits",
                    "Accuracy versus mantissa bits", "Critical bits",
                    "Lost-update fraction versus mantissa bits", "Training curves", "Status"]:
        assert section in text


def test_every_png_is_a_nonblank_150_dpi_picture(report_dir):
    pngs = sorted(report_dir.glob("*.png"))
    assert len(pngs) >= len(EXPECTED_FIGURES)
    for png in pngs:
        assert_not_blank(png)
        with Image.open(png) as im:
            dpi = im.info.get("dpi")
        assert dpi is not None and round(dpi[0]) == 150, (png, dpi)


def test_tables_behind_the_figures(report_dir, sweep_file):
    df = load(sweep_file)
    heat = pd.read_csv(report_dir / "heatmap.csv")
    # One cell per rounding mode x exponent x mantissa width (panels per rounding mode).
    assert len(heat) == len(ROUNDINGS) * len(EXP_WIDTHS) * len(MAN_WIDTHS)
    assert set(heat["rounding"]) == set(ROUNDINGS)
    one = heat[(heat["rounding"] == "nearest_even") & (heat["exp_bits"] == 8) &
               (heat["man_bits"] == 10)]["mean"].iloc[0]
    grid = df[~df["is_baseline"] & (df["rounding"] == "nearest_even") & (df["exp_bits"] == 8)
              & (df["man_bits"] == 10)]
    assert one == pytest.approx(grid["final_test_accuracy"].mean())
    crit = pd.read_csv(report_dir / "critical_bits.csv")
    expected = critical_bits(df, 0.01)
    assert len(crit) == len(expected) > 0
    np.testing.assert_allclose(crit["critical"], expected["critical"], equal_nan=True)
    status = pd.read_csv(report_dir / "status.csv").set_index("status")
    assert status["points"].sum() == len(df)
    assert status.loc["done", "points"] == (df["status"] == "done").sum()
    assert status.loc["failed", "points"] == 1
    assert status.loc["done", "compute_seconds"] == pytest.approx(
        df.loc[df["status"] == "done", "wall_seconds"].sum())
    points = pd.read_csv(report_dir / "points.csv")
    assert len(points) == len(df)


def test_axes_not_swept_are_skipped_not_drawn(sweep_file, tmp_path):
    df = load(sweep_file)
    one_exp = df[df["is_baseline"] | (df["exp_bits"] == 8)]
    skip = figures.heatmaps(one_exp, str(tmp_path))
    assert isinstance(skip, figures.Skip) and "not both swept" in skip.note
    one_man = df[df["is_baseline"] | (df["man_bits"] == 10)]
    for draw in (figures.accuracy_vs_mantissa, figures.lost_updates):
        assert isinstance(draw(one_man, str(tmp_path)), figures.Skip)
    assert not list(tmp_path.glob("*.png"))


def run_report(args, **kw):
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "precsweep.analysis.report", *args], env=env,
                          capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture
def nothing_finished(sweep_file, tmp_path):
    """A copy of the sweep file with every row pending, as right after the sweep started."""
    import shutil

    import h5py
    path = tmp_path / "fresh.h5"
    shutil.copy(sweep_file, path)
    with h5py.File(path, "r+") as f:
        f["results/status"][...] = 0
    return path


def test_precsweep_report_command_on_a_file_with_nothing_finished(nothing_finished, tmp_path):
    # Through the C++ command (which runs this package with /usr/bin/python3).
    exe = binary()
    out = tmp_path / "rep"
    run = subprocess.run([exe, "report", str(nothing_finished), "-o", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(out / "index.html")
    text, links = referenced(out / "index.html")
    assert "status.png" in links and "heatmap.png" not in links
    assert "No finished float-format points yet" in text
    for link in links:
        assert (out / link).is_file()
    assert_not_blank(out / "status.png")
    status = pd.read_csv(out / "status.csv").set_index("status")
    assert status.loc["pending", "points"] == status["points"].sum()


def test_missing_file_exits_2_with_one_line(tmp_path):
    run = run_report([str(tmp_path / "nope.h5"), "-o", str(tmp_path / "r")])
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and "nope.h5" in run.stderr
    assert not (tmp_path / "r").exists()


def test_precsweep_report_missing_file_exits_2(tmp_path):
    exe = binary()
    missing = subprocess.run([exe, "report", str(tmp_path / "nope.h5"), "-o",
                              str(tmp_path / "r")], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2
    assert len(missing.stderr.strip().splitlines()) == 1 and "nope.h5" in missing.stderr
    assert not (tmp_path / "r").exists()


def test_format_bars_for_a_list_of_formats(sweep_file, tmp_path):
    # A sparse list of formats (as `format: [fp16, bf16, ...]` gives) is drawn as bars.
    df = load(sweep_file)
    listed = df[df["is_baseline"] | df["format"].isin(["E5M2", "E8M6", "E8M10"])]
    fig = figures.accuracy_by_format(listed, str(tmp_path))
    assert isinstance(fig, figures.Figure)
    assert_not_blank(tmp_path / fig.png)
    bars = pd.read_csv(tmp_path / fig.csv)
    assert set(bars["format"]) == {"E5M2", "E8M6", "E8M10"}
    assert set(bars["rounding"]) == set(ROUNDINGS)


def test_rerun_replaces_the_folder_and_refuses_a_foreign_one(sweep_file, tmp_path):
    out = tmp_path / "r"
    assert run_report([str(sweep_file), "-o", str(out)]).returncode == 0
    (out / "stale.png").write_bytes(b"left over from an older report")
    again = run_report([str(sweep_file), "-o", str(out)])
    assert again.returncode == 0, again.stderr
    assert (out / "index.html").exists() and not (out / "stale.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no temporary folders left
    # A folder that is not a report is never overwritten; a missing results file leaves the
    # previous report untouched.
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    refused = run_report([str(sweep_file), "-o", str(foreign)])
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "not a precsweep report" in refused.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"]
    before = sorted(p.name for p in out.iterdir())
    assert run_report([str(tmp_path / "nope.h5"), "-o", str(out)]).returncode == 2
    assert sorted(p.name for p in out.iterdir()) == before
