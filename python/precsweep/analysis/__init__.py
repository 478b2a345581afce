"""precsweep analysis: results files into pandas, critical widths, and the HTML report.

    from precsweep.analysis import load, curves, critical_bits
    df = load("results.h5")            # one row per point
    crit = critical_bits(df, 0.01)     # fewest mantissa/exponent bits within 1% of fp32

`python3 -m precsweep.analysis.report results.h5 -o report/` writes the report. See docs/analysis.md.
Deliberately leaves out: anything that needs more than Debian's h5py/pandas/matplotlib/numpy.
"""
from .critical import critical_bits, setting_columns
from .results import attributes, curves, load, parse_format, search, update_ratio

__all__ = ["load", "curves", "critical_bits", "attributes", "parse_format", "search",
           "setting_columns", "update_ratio"]
