"""Files of the layout before issue 14 (every root string attribute variable-length) and of the
current one (fixed-length, null-padded: h5py reads bytes) load to the same attributes and
table. The old file is made from the real tiny sweep (conftest.sweep_file) by rewriting its
string attributes as variable-length, as precsweep wrote them then. Likewise a file from before
issue 15 (no parameter/metric table attributes, no parameters added since) loads through the
fallback lists.
Deliberately leaves out: damaged files (tests/test_results_damaged.cpp).
"""
import shutil

import h5py
import numpy as np
import pandas as pd

from precsweep.analysis import attributes, curves, load


def _to_old_layout(path):
    with h5py.File(path, "r+") as f:
        for name in list(f.attrs):
            value = f.attrs[name]
            dtype = f.attrs.get_id(name).dtype
            if dtype.kind != "S":  # numbers, and attributes already variable-length
                continue
            del f.attrs[name]
            text = h5py.string_dtype("utf-8")
            if isinstance(value, np.ndarray) and value.shape != ():
                f.attrs.create(name, [v.decode() for v in value], dtype=text)
            else:
                f.attrs.create(name, bytes(value).decode(), dtype=text)


def test_new_file_holds_fixed_length_attributes(sweep_file):
    with h5py.File(sweep_file, "r") as f:
        assert f.attrs.get_id("spec_sha256").dtype.kind == "S"
        assert f.attrs.get_id("hostnames").dtype.kind == "S"


def test_old_and_new_layout_load_alike(sweep_file, tmp_path):
    old = tmp_path / "old.h5"
    shutil.copy(sweep_file, old)
    _to_old_layout(old)
    with h5py.File(old, "r") as f:
        assert h5py.check_string_dtype(f.attrs.get_id("spec_sha256").dtype) is not None
        assert f.attrs.get_id("spec_sha256").dtype.kind == "O"
    new_attrs, old_attrs = attributes(sweep_file), attributes(old)
    assert new_attrs == old_attrs
    assert isinstance(new_attrs["spec_sha256"], str) and len(new_attrs["spec_sha256"]) == 64
    assert isinstance(new_attrs["hostnames"], list) and all(
        isinstance(h, str) for h in new_attrs["hostnames"])
    pd.testing.assert_frame_equal(load(sweep_file).drop(columns="file"),
                                  load(old).drop(columns="file"))


# Written by issue 15's parameter table; absent from older files.
TABLE_ATTRS = ["parameters", "parameter_kinds", "epoch_metrics", "run_metrics"]


def _to_pre_table_layout(path):
    """The file as precsweep wrote it before the parameter table: no table attributes, no
    /points column for a parameter added since (nor the recipes' round_<role>, loss_scaling)
    and no per-epoch metric added since. Returns the parameters and metrics removed."""
    from precsweep.analysis.results import OLD_LAYOUT_EPOCH_METRICS, OLD_LAYOUT_PARAMETERS, ROLES
    with h5py.File(path, "r+") as f:
        added = [p for p in _attr_list(f, "parameters") if p not in OLD_LAYOUT_PARAMETERS]
        metrics = [m for m in _attr_list(f, "epoch_metrics") if m not in OLD_LAYOUT_EPOCH_METRICS]
        for name in TABLE_ATTRS:
            del f.attrs[name]
        for name in added + [f"round_{r}" for r in ROLES] + ["loss_scaling"]:
            del f["points"][name]
        for name in metrics:
            del f["results"][name]
    return added, metrics


def _attr_list(f, name):
    return [bytes(v).split(b"\0", 1)[0].decode() for v in f.attrs[name]]


def test_file_without_the_table_attributes_loads(sweep_file, tmp_path):
    old = tmp_path / "pre_table.h5"
    shutil.copy(sweep_file, old)
    added, metrics = _to_pre_table_layout(old)
    with h5py.File(old, "r") as f:
        assert not any(name in f.attrs for name in TABLE_ATTRS)
    new_df, old_df = (load(p).drop(columns="file") for p in (sweep_file, old))
    # A file from before the recipes reads with the recipe columns its shorthand implies
    # (recipe none, no overrides, round_<role> from format/rounding/apply_to): the same values
    # the trainer wrote for this shorthand-only sweep.
    kept = [p for p in added if p in old_df]
    assert "recipe" in kept and "round_weights" in old_df
    pd.testing.assert_frame_equal(
        new_df.drop(columns=[p for p in added if p not in kept] +
                    [f"final_{m}" for m in metrics]),
        old_df, check_like=True)
    new_cv, old_cv = (curves(p).drop(columns="file") for p in (sweep_file, old))
    pd.testing.assert_frame_equal(new_cv.drop(columns=metrics), old_cv)
