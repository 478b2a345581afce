"""HTML for the report pages: one page writer and one table writer, shared by the sweep report
(report.py) and the error-scaling page (errorscale.py).

Pages are standalone (inline style; a small inline script sorts tables; plotly.js, when a
page has interactive figures, from a file beside it) and written atomically, so a reader never sees a
half-written file. Deliberately leaves out: figures (figures.py) and what each page says.
"""
from __future__ import annotations

import html
import os

# Uses the screen's width (figures scale down on narrow screens); wide tables scroll sideways
# inside their own box instead of stretching the page.
STYLE = ("body{font-family:sans-serif;margin:1.5em auto;padding:0 2vw;max-width:1800px}"
         "img{max-width:100%;height:auto}figure{margin:1em 0}"
         ".table{overflow-x:auto;max-width:100%}"
         "table{border-collapse:collapse;font-size:13px}"
         "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}"
         "th{background:#f0f0f0;cursor:pointer;position:sticky;top:0}"
         "th.sorted-asc::after{content:' \\25B2'}th.sorted-desc::after{content:' \\25BC'}"
         ".note{color:#555;font-style:italic}figcaption{font-size:14px;color:#333;"
         "max-width:1100px}p{max-width:1100px}"
         "pre{background:#f4f4f4;padding:0.5em;overflow:auto}"
         ".axes td,.axes th{text-align:left;white-space:normal}")

# Click a column header to sort its table (numbers numerically, empty cells last).
SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = !th.classList.contains('sorted-asc');
    table.querySelectorAll('th').forEach(function (h) {
      h.classList.remove('sorted-asc', 'sorted-desc'); });
    th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
    var rows = Array.prototype.slice.call(body.rows);
    function key(r) { var t = r.cells[col].textContent.trim(), n = Number(t);
      return t === '' ? null : (isNaN(n) ? t : n); }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null) return 1; if (y === null) return -1;
      var c = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0)
                                      : (typeof x === 'number' ? -1 : 1);
      return asc ? c : -c; });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def escape(value):
    return html.escape(str(value))


def table(frame, max_rows=200, css_class="sortable"):
    """The first max_rows rows of a DataFrame as a sortable HTML table in a scrolling box: no
    index, floats to 4 significant digits, NaN as an empty cell, every cell escaped."""
    body = frame.head(max_rows).to_html(index=False, border=0, na_rep="", escape=True,
                                        classes=css_class, float_format=lambda v: f"{v:.4g}")
    return f"<div class='table'>{body}</div>"


def write_page(path, title, body_html, head_scripts=()):
    """Writes a standalone HTML page atomically (temporary file, then rename). Returns path.
    head_scripts: script files (relative to the page) loaded before the body, e.g. plotly."""
    scripts = "".join(f"<script src='{escape(s)}'></script>" for s in head_scripts)
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{escape(title)}</title><style>{STYLE}</style>{scripts}</head><body>\n"
            + body_html + f"\n<script>{SORT_SCRIPT}</script>\n</body></html>\n")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, path)
    return path
