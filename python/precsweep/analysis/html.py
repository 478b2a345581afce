"""HTML for the report pages: one page writer and one table writer, shared by the sweep report
(report.py) and the error-scaling page (errorscale.py).

Pages are standalone (inline style, no scripts) and written atomically, so a reader never sees a
half-written file. Deliberately leaves out: figures (figures.py) and what each page says.
"""
from __future__ import annotations

import html
import os

STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
         "img{max-width:100%}table{border-collapse:collapse;font-size:12px}"
         "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
         ".note{color:#555;font-style:italic}figcaption{font-size:13px;color:#333}"
         "pre{background:#f4f4f4;padding:0.5em;overflow:auto}")


def escape(value):
    return html.escape(str(value))


def table(frame, max_rows=200):
    """The first max_rows rows of a DataFrame as an HTML table: no index, floats to 4
    significant digits, NaN as an empty cell, every cell escaped."""
    return frame.head(max_rows).to_html(index=False, border=0, na_rep="", escape=True,
                                        float_format=lambda v: f"{v:.4g}")


def write_page(path, title, body_html):
    """Writes a standalone HTML page atomically (temporary file, then rename). Returns path."""
    page = ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n"
            + body_html + "\n</body></html>\n")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, path)
    return path
