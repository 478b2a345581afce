"""The reports of two real small sweeps (a width grid with rounding modes; a list of formats
applied at three sites) rendered in a real browser, headless Chromium (Debian's `chromium`,
installed by scripts/setup): no script error, no broken image, every figure present, the
interactive plotly figure drawn, no sideways scrolling at 1400 px. A screenshot of each page is
saved under the build folder (PRECSWEEP_BUILD_DIR/report-screenshots) for a human look.

How: a copy of index.html gets a first script that records every error event (script errors
and failed image loads) and, once the page has loaded, writes what it found as JSON into the
page; `chromium --dump-dom` with a virtual time budget (events, not wall-clock sleeps) prints
the resulting DOM.
Deliberately leaves out: judging looks (the screenshot is for a person).
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from matplotlib import image as mpimg

from conftest import PYTHON_DIR

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__errors.push(t && t.src ? 'failed to load ' + t.src : String(e.message));
}, true);
window.addEventListener('load', function () { setTimeout(function () {
  var imgs = Array.prototype.slice.call(document.images);
  var report = {
    errors: window.__errors,
    images: imgs.map(function (i) { return i.getAttribute('src'); }),
    broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                .map(function (i) { return i.getAttribute('src'); }),
    plots: document.querySelectorAll('.js-plotly-plot .main-svg').length,
    hoverable: document.querySelectorAll('.js-plotly-plot .scatterlayer .point').length,
    scrollWidth: document.documentElement.scrollWidth,
    tables: document.querySelectorAll('table.sortable').length
  };
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
}, 100); });
</script>"""

WIDTH = 1400


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.fail("chromium is not installed: run scripts/setup (it installs Debian's chromium)")
    return exe


def browser(*args, timeout=180):
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--hide-scrollbars", "--allow-file-access-from-files",
           f"--window-size={WIDTH},2200", *args]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def render(report, name):
    """Loads report/index.html with the probe; returns the probe's findings."""
    page = report / "index.html"
    probed = report / "probe.html"
    text = page.read_text()
    probed.write_text(text.replace("<head>", "<head>" + PROBE, 1))
    dom = browser("--virtual-time-budget=15000", "--dump-dom", probed.as_uri())
    probed.unlink()
    found = re.search(r"<pre id=\"probe\">(.*?)</pre>", dom, re.S)
    assert found, "the page never finished loading (no probe output)"
    shots = os.path.join(os.environ.get("PRECSWEEP_BUILD_DIR", str(report.parent)),
                         "report-screenshots")
    os.makedirs(shots, exist_ok=True)
    shot = os.path.join(shots, f"{name}.png")
    browser("--virtual-time-budget=15000", f"--screenshot={shot}", page.as_uri())
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")), shot


def write_report(results, out):
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, "-m", "precsweep.analysis.report", str(results), "-o",
                          str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return out


def check_page(found, shot, report):
    assert found["errors"] == [], found["errors"]
    assert found["broken"] == [], found["broken"]
    figures = sorted(p.name for p in report.glob("*.png"))
    assert sorted(found["images"]) == figures  # every figure drawn is shown, and only those
    assert found["plots"] >= 1 and found["hoverable"] > 0, "the interactive figure is missing"
    assert found["tables"] >= 2
    assert found["scrollWidth"] <= WIDTH, "the page scrolls sideways at 1400 px"
    pixels = mpimg.imread(shot)  # [height, width, channels]
    assert pixels.shape[1] == WIDTH and pixels[..., :3].var() > 1e-3


def test_grid_report_in_a_browser(report_dir):
    found, shot = render(report_dir, "grid")
    check_page(found, shot, report_dir)
    for name in ("heatmap.png", "accuracy_vs_mantissa.png", "critical_widths.png",
                 "training_curves.png"):
        assert name in found["images"]


def test_comparison_report_in_a_browser(sites_file, tmp_path):
    report = write_report(sites_file, tmp_path / "sites")
    found, shot = render(report, "sites")
    check_page(found, shot, report)
    assert "accuracy_by_format.png" in found["images"]
    # One epoch: no degenerate training-curve figure.
    assert "training_curves.png" not in found["images"]
