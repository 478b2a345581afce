"""Reading a precsweep results file (layout: docs/results-format.md) into pandas.

load(paths)   -> one row per point: parameters, status, final metrics, accuracy vs. baseline;
                 paths: one file, a glob pattern or a list (a `file` column tells them apart).
curves(paths) -> long form per-epoch metrics: one row per (file, point, epoch).
search(paths) -> the /search rows of search-mode files: one row per setting.
update_ratio(path) -> fp32 points' update-ratio histograms [N, epochs, layers, bins] (update_ratio.hpp),
                 with ratio_tail / predict_width, the C++ prediction rule.
attributes(path) -> the root attributes (spec text, versions, hosts, times) as a dict.

Works on a partial file from a killed or still-running sweep: the file is opened read-only
without HDF5 file locking, and a row's metrics are trusted only once its status is no longer
pending (the sweep writes status last), so pending rows always carry NaN metrics.
Deliberately leaves out: plotting (figures.py) and the critical-width analysis (critical.py).
"""
from __future__ import annotations

import os
import re

import h5py
import numpy as np
import pandas as pd

STATUS_NAMES = ["pending", "done", "diverged", "failed"]  # index = the int8 code in the file
STATUS_DTYPE = pd.CategoricalDtype(STATUS_NAMES)

# A file records its parameters (/points/<name>, in the sweep's canonical order) and its
# per-epoch metrics ([N, max_epochs] datasets) as the root attributes `parameters` and
# `epoch_metrics` (the C++ parameter table, include/precsweep/params.hpp); parameters() and
# epoch_metrics() read them. Files written before those attributes existed hold exactly these:
OLD_LAYOUT_PARAMETERS = ["dataset", "seed", "hidden", "activation", "lr", "momentum",
                         "weight_decay", "lr_schedule", "batch", "epochs", "format", "rounding",
                         "apply_to", "every", "master_weights"]
OLD_LAYOUT_EPOCH_METRICS = ["test_accuracy", "train_loss", "train_accuracy",
                            "lost_update_fraction", "zero_fraction", "overflow", "underflow",
                            "epoch_seconds"]

# Named formats -> (exponent bits, mantissa bits, encoding). Same table as formats.hpp /
# docs/formats.md: the encoding keeps fp8-e4m3 (OCP E4M3FN, max 448) apart from the IEEE-like
# E4M3 (max 240), so no figure or group-by ever merges them by (e, m) alone.
NAMED_FORMATS = {"fp32": (8, 23, "ieee"), "tf32": (8, 10, "ieee"), "bf16": (8, 7, "ieee"),
                 "fp16": (5, 10, "ieee"), "fp8-e5m2": (5, 2, "ieee"),
                 "fp8-e4m3": (4, 3, "fn"), "fp8-e3m4": (3, 4, "ieee"),
                 "fp8-e4m3fnuz": (4, 3, "fnuz"), "fp8-e5m2fnuz": (5, 2, "fnuz"),
                 "fp6-e2m3": (2, 3, "finite"), "fp6-e3m2": (3, 2, "finite"),
                 "fp4-e2m1": (2, 1, "finite")}
ENCODINGS = ("ieee", "fn", "finite", "fnuz")
KINDS = ["float", "named", "fixed", "block", "unknown"]
# The rounding mode of an fp32 baseline row: it rounds nothing, so it has no mode of its own.
BASELINE_ROUNDING = "none"
# Precision recipes (docs/training.md): the tensor roles, and the /points columns a file
# written before recipes lacks, read as what those runs did: no recipe, no override, the
# shorthand's roles (round_<role>) and no loss scaling.
ROLES = ["weights", "activations", "errors", "weight_grads", "updates", "momentum", "master"]
_SHORTHAND_SITES = {"weights": "weights", "activations": "activations", "gradients": "errors",
                    "updates": "updates"}

_FLOAT_RE = re.compile(r"^[Ee](\d+)[Mm](\d+)$")
_FIXED_RE = re.compile(r"^[Qq](\d+)\.(\d+)$")


def open_file(path):
    """Opens read-only and without HDF5's file locking (which would make a reader fail while
    a sweep still writes the file; h5py >= 3.5 with HDF5 >= 1.10.7, as in Debian 12). Older
    versions: set HDF5_USE_FILE_LOCKING=FALSE in the environment instead."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such results file")
    try:
        return h5py.File(path, "r", locking=False)
    except TypeError:  # h5py < 3.5 has no locking argument
        return h5py.File(path, "r")
    except ValueError:  # HDF5 too old for the locking property
        return h5py.File(path, "r")


def _decode(value):
    """bytes / numpy bytes / str -> str (fixed-length strings lose their NUL padding)."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).split(b"\0", 1)[0].decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _decode(value[()])
    return str(value)


def _read_column(dataset):
    """A 1-D dataset as a numpy array; string datasets (vlen or fixed) become object arrays."""
    if dataset.dtype.kind in ("S", "O", "U"):
        try:  # h5py decodes vlen and fixed-length (NUL-padded) strings alike
            return np.asarray(dataset.asstr(errors="replace")[()], dtype=object)
        except (TypeError, ValueError):  # not a string type after all (e.g. opaque)
            return np.array([_decode(v) for v in dataset[()]], dtype=object)
    return dataset[()]


def _attr_value(value):
    if isinstance(value, np.ndarray):
        if value.dtype.kind in ("S", "O", "U"):
            return [_decode(v) for v in value.ravel()]
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item() if not isinstance(value, np.bytes_) else _decode(value)
    if isinstance(value, bytes):
        return _decode(value)
    return value


def _name_list(f, attr, old_layout):
    if attr in f.attrs:
        return [str(v) for v in _attr_value(f.attrs[attr])]
    return list(old_layout)


def parameters(f):
    """The run parameters of an open results file, in grid order (its `parameters` attribute;
    for older files the fixed list they were written with)."""
    return _name_list(f, "parameters", OLD_LAYOUT_PARAMETERS)


def epoch_metrics(f):
    """The per-epoch metric datasets of an open results file (its `epoch_metrics` attribute;
    for older files the fixed list they were written with)."""
    return _name_list(f, "epoch_metrics", OLD_LAYOUT_EPOCH_METRICS)


def attributes(path):
    """Root attributes (spec, spec_sha256, name, versions, hostnames, times...) as a dict."""
    with open_file(path) as f:
        return {k: _attr_value(v) for k, v in f.attrs.items()}


def parse_format(text):
    """'E5M10' -> ('float', 5, 10, nan, nan, 'ieee'); 'fp8-e4m3' -> ('named', 4, 3, nan, nan,
    'fn'); 'E5M2,fnuz' -> ('float', 5, 2, nan, nan, 'fnuz'); 'Q8.8' -> ('fixed', nan, nan, 8,
    8, ''); block formats ('mxfp8-e4m3', 'mx:E4M3:32', 'nvfp4') -> ('block', nan, ...).
    Options other than the encoding (',saturate', ',no-subnormals') are ignored here."""
    parts = [p.strip().lower() for p in str(text).split(",")]
    base, options = parts[0], parts[1:]
    encoding = next((o for o in options if o in ENCODINGS), None)
    m = _FLOAT_RE.match(base)
    if m:
        return "float", int(m.group(1)), int(m.group(2)), np.nan, np.nan, encoding or "ieee"
    if base in NAMED_FORMATS:
        e, mant, enc = NAMED_FORMATS[base]
        return "named", e, mant, np.nan, np.nan, encoding or enc
    m = _FIXED_RE.match(base)
    if m:
        return "fixed", np.nan, np.nan, int(m.group(1)), int(m.group(2)), ""
    if base.startswith("mx") or base.startswith("nvfp"):
        return "block", np.nan, np.nan, np.nan, np.nan, ""
    return "unknown", np.nan, np.nan, np.nan, np.nan, ""


def _status_category(codes):
    codes = np.asarray(codes, dtype=np.int64)
    names = np.array(STATUS_NAMES + ["unknown"], dtype=object)
    safe = np.where((codes >= 0) & (codes < len(STATUS_NAMES)), codes, len(STATUS_NAMES))
    return pd.Categorical(names[safe], categories=STATUS_NAMES)


def _points_frame(f):
    """The /points group and the format split: one row per point."""
    if "points" not in f or "results" not in f or "status" not in f["results"]:
        raise ValueError(f"{f.filename}: not a precsweep results file (no /points or "
                         "/results/status)")
    n = f["results"]["status"].shape[0]
    cols = {"point": np.arange(n, dtype=np.int64)}
    for name, ds in f["points"].items():
        if isinstance(ds, h5py.Dataset) and ds.ndim == 1 and ds.shape[0] == n:
            cols[name] = _read_column(ds)
    df = pd.DataFrame(cols)

    # Format split. The file's exp_bits/man_bits win where present (-1 means "not a float").
    if "format" in df:
        table = {t: parse_format(t) for t in pd.unique(df["format"])}  # few distinct formats
        parsed = [table[t] for t in df["format"]]
        df["kind"] = pd.Categorical([p[0] for p in parsed], categories=KINDS)
        parsed_e = np.array([p[1] for p in parsed], dtype=float)
        parsed_m = np.array([p[2] for p in parsed], dtype=float)
        df["int_bits"] = np.array([p[3] for p in parsed], dtype=float)
        df["frac_bits"] = np.array([p[4] for p in parsed], dtype=float)
        df["encoding"] = [p[5] for p in parsed]
    else:
        df["kind"] = pd.Categorical(["float"] * n, categories=KINDS)
        parsed_e = parsed_m = np.full(n, np.nan)
        df["int_bits"] = df["frac_bits"] = np.nan
        df["encoding"] = "ieee"
    for col, parsed in (("exp_bits", parsed_e), ("man_bits", parsed_m)):
        if col in df:
            stored = df[col].to_numpy(dtype=float)
            df[col] = np.where(stored >= 0, stored, parsed)
        else:
            df[col] = parsed
    if "master_weights" in df:
        # int8: 1 true, 0 unset (the recipe's; files before recipes: false), -1 false (removes a
        # recipe's master copy). Read as "asked for master weights"; master_copy says what ran.
        df["master_weights"] = df["master_weights"].to_numpy() > 0
    for col in ("is_baseline", "master_copy"):
        if col in df:
            df[col] = df[col].astype(bool)
    if "is_baseline" in df and "rounding" in df:
        # The engine stores the spec's rounding on the fp32 baselines too; they round nothing,
        # so the loader gives them their own value and no group-by mixes them in.
        df["rounding"] = df["rounding"].where(~df["is_baseline"], BASELINE_ROUNDING)
    if "recipe" not in df and "format" in df:
        _add_shorthand_roles(df)
    if "master_copy" not in df and "master_weights" in df:
        # Files from before the column: a master copy exists only beside rounded weights.
        weights = df["round_weights"] if "round_weights" in df else pd.Series([""] * len(df))
        df["master_copy"] = df["master_weights"].to_numpy() & (weights.astype(str) != "").to_numpy()
    return df


def _add_shorthand_roles(df):
    """A file from before precision recipes: recipe `none`, empty overrides, and round_<role>
    from format/rounding/apply_to as the trainer resolves the shorthand; no loss scaling."""
    n = len(df)
    df["recipe"] = "none"
    for role in ROLES:
        for part in ("format", "rounding", "scale"):
            df[f"{role}_{part}"] = ""
    df["loss_scale"] = ""
    rounds = {role: [""] * n for role in ROLES}
    apply = df["apply_to"] if "apply_to" in df else ["weights"] * n
    mode = df["rounding"] if "rounding" in df else ["toward_zero"] * n
    for i, (fmt, items, rnd) in enumerate(zip(df["format"], apply, mode)):
        if fmt in ("E8M23", "fp32"):
            continue
        for item in str(items).split(","):
            if item in _SHORTHAND_SITES:
                rounds[_SHORTHAND_SITES[item]][i] = f"{fmt}:{rnd}"
    for role in ROLES:
        df[f"round_{role}"] = rounds[role]
    df["loss_scaling"] = "none"


def result_files(paths):
    """The results files `paths` names: one path, a glob pattern ('runs/*.h5', sorted), or a
    list of either. Raises FileNotFoundError naming a path or pattern that matches nothing."""
    import glob
    items = [paths] if isinstance(paths, (str, bytes, os.PathLike)) else list(paths)
    out = []
    for item in items:
        item = os.fspath(item)
        if any(c in item for c in "*?["):
            matched = sorted(glob.glob(item))
            if not matched:
                raise FileNotFoundError(f"{item}: no results file matches this pattern")
            out += matched
        else:
            out.append(item)
    if not out:
        raise FileNotFoundError("no results file given")
    return out


def load(paths):
    """One frame over one or several results files (a path, a glob pattern or a list; see
    result_files): load_file() of each, concatenated, with a `file` column (the path as given
    or matched). `point` and `baseline_index` stay row ids within their file, so (file, point)
    identifies a point; a study refined over several runs reads as one frame."""
    files = result_files(paths)
    frames = []
    for path in files:
        df = load_file(path)
        df.insert(0, "file", path)
        frames.append(df)
    if len(frames) == 1:
        return frames[0]
    out = pd.concat(frames, ignore_index=True)
    for col in ("kind", "status"):  # categories are the same in every file
        out[col] = pd.Categorical(out[col], categories=frames[0][col].cat.categories)
    params = []
    for f in frames:
        params += [c for c in f.attrs["parameters"] if c not in params]
    out.attrs["parameters"] = params
    return out


def load_file(path):
    """One row per point of one results file: `point` (the row id), every parameter, kind/exp_bits/man_bits/
    int_bits/frac_bits/encoding from the format (fp32 baselines get rounding "none"), `status` (category pending/done/diverged/failed),
    final_test_accuracy, final per-epoch metrics (final_<metric>: the last epoch run),
    mean_lost_update_fraction, epochs_run, wall_seconds, rank, baseline_index, message,
    baseline_accuracy and acc_delta = final_test_accuracy - baseline_accuracy (NaN unless the
    point links to a baseline that is done)."""
    with open_file(path) as f:
        df = _points_frame(f)
        res = f["results"]
        n = len(df)
        status_codes = res["status"][()].astype(np.int64)
        df["status"] = _status_category(status_codes)
        finished = status_codes > 0  # rows whose metrics have been written (status is last)

        def scalar(name, fill=np.nan):
            if name not in res:
                return np.full(n, fill)
            v = _read_column(res[name])
            return v

        acc = scalar("final_test_accuracy").astype(float)
        df["final_test_accuracy"] = np.where(finished, acc, np.nan)
        df["wall_seconds"] = np.where(finished, scalar("wall_seconds").astype(float), np.nan)
        df["rank"] = np.where(finished, scalar("rank", -1).astype(float), np.nan)
        df["baseline_index"] = scalar("baseline_index", -1).astype(np.int64)
        msg = scalar("message", "")
        df["message"] = [m if fin else "" for m, fin in zip(msg, finished)]

        params = parameters(f)
        # Per-epoch summaries: the last epoch that was run, and means over epochs run.
        epochs_run = np.zeros(n, dtype=np.int64)
        for name in epoch_metrics(f):
            if name not in res:
                continue
            a = res[name][()].astype(float).reshape(n, -1)  # [N, max_epochs]
            a[~finished] = np.nan
            ran = ~np.isnan(a)
            epochs_run = np.maximum(epochs_run, ran.sum(axis=1))
            last = np.full(n, np.nan)
            has = ran.any(axis=1)
            last_idx = a.shape[1] - 1 - np.argmax(ran[:, ::-1], axis=1)
            last[has] = a[has, last_idx[has]]
            df[f"final_{name}"] = last
            if name == "lost_update_fraction":
                with np.errstate(invalid="ignore"):
                    df["mean_lost_update_fraction"] = np.where(
                        has, np.nansum(a, axis=1) / np.maximum(ran.sum(axis=1), 1), np.nan)
        df["epochs_run"] = epochs_run

    # Accuracy against the linked fp32 baseline (only when that baseline is done).
    bi = df["baseline_index"].to_numpy()
    valid = (bi >= 0) & (bi < n)
    base_acc = np.full(n, np.nan)
    base_done = np.zeros(n, dtype=bool)
    base_done[valid] = (df["status"].to_numpy()[bi[valid]] == "done")
    take = valid & base_done
    base_acc[take] = df["final_test_accuracy"].to_numpy()[bi[take]]
    df["baseline_accuracy"] = base_acc
    df["acc_delta"] = df["final_test_accuracy"] - base_acc
    # Column order: id, parameters (canonical order), format split, then results.
    first = ["point"] + [c for c in params if c in df] + [
        c for c in ("is_baseline", "kind", "exp_bits", "man_bits", "int_bits", "frac_bits",
                    "encoding")
        if c in df]
    rest = [c for c in df.columns if c not in first]
    out = df[first + rest]
    out.attrs["parameters"] = [c for c in params if c in df]
    return out


def search(paths):
    """The /search rows of search-mode results files (docs/search.md), one row per setting:
    file, the setting's parameters (as in /points; `format` names the searched width `*`,
    E8M*), axis, critical (NaN when no cell passes or the search has not ended), done,
    non_monotone, points_run, cells, predicted (NaN: none), first_point. Files without /search
    give no rows."""
    frames = []
    for path in result_files(paths):
        with open_file(path) as f:
            if "search" not in f:
                continue
            g = f["search"]
            cols = {name: _read_column(ds) for name, ds in g.items()
                    if isinstance(ds, h5py.Dataset) and ds.ndim == 1}
            params = [c for c in parameters(f) if c in cols]
            rest = ["critical", "done", "non_monotone", "points_run", "cells", "predicted",
                    "first_point"]
            df = pd.DataFrame({c: cols[c] for c in params + [r for r in rest if r in cols]})
            df.insert(0, "file", path)
            df.insert(1 + len(params), "axis", _attr_value(g.attrs.get("axis", "")))
        for col in ("critical", "predicted"):
            df[col] = df[col].astype(float).where(df[col] >= 0)
        for col in ("done", "non_monotone"):
            df[col] = df[col].astype(bool)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# The update-ratio histogram's bins (include/precsweep/update_ratio.hpp): [0] updates with
# dw = 0 or w = 0, [1] d < RATIO_MIN, one bin per d = RATIO_MIN..RATIO_MAX, [-1] d > RATIO_MAX;
# d = floor(log2|w|) - floor(log2|dw|). PREDICT_THRESHOLD is the calibrated tau (docs/theory.md).
RATIO_MIN, RATIO_MAX = -8, 31
RATIO_BINS = 3 + RATIO_MAX - RATIO_MIN + 1
PREDICT_THRESHOLD = 0.52


def update_ratio(path):
    """The /results/update_ratio histograms of one results file as an int array [N, max_epochs,
    layers, RATIO_BINS], one histogram per dense layer (input layer first; all 0 for points that
    round something, are not finished, epochs not run, or layers a point does not have); None if
    the file has no such dataset (written before it existed, or without fp32 points). Files
    written before the per-layer histogram give layers = 1 (one pooled histogram)."""
    with open_file(path) as f:
        res = f["results"]
        if "update_ratio" not in res:
            return None
        a = res["update_ratio"][()].astype(np.int64)
        n = res["status"].shape[0]
        epochs = int(f.attrs["max_epochs"])
        finished = res["status"][()] > 0
    a = a.reshape(n, epochs, -1, RATIO_BINS)
    a[~finished] = 0
    return a


def last_histogram(hist):
    """[..., epochs, layers, bins] -> [..., layers, bins]: the last epoch with a nonzero
    histogram (0 if none)."""
    hist = np.asarray(hist)
    nonzero = hist.sum(axis=(-2, -1)) > 0
    idx = hist.shape[-3] - 1 - np.argmax(nonzero[..., ::-1], axis=-1)
    out = np.take_along_axis(hist, idx[..., None, None, None], axis=-3)[..., 0, :, :]
    return np.where(nonzero.any(axis=-1)[..., None, None], out, 0)


def ratio_tail(h, k):
    """Fraction of the swampable updates (bins other than [0]) with d >= k (C++ ratio_tail),
    per histogram over the last axis."""
    h = np.asarray(h, dtype=float)
    k = min(max(k, RATIO_MIN), RATIO_MAX + 1)
    first = 2 + (k - RATIO_MIN) if k <= RATIO_MAX else RATIO_BINS - 1
    total = h[..., 1:].sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, h[..., first:].sum(axis=-1) / np.maximum(total, 1), 0.0)


def predict_width(h, rounding="toward_zero", tau=PREDICT_THRESHOLD):
    """The predicted critical mantissa width of one point's histograms [layers, bins] (or one
    histogram [bins]; C++ predict_width): the smallest m >= 0 with the layers' lost fractions
    summing to less than tau, sum_l ratio_tail(h_l, m + 1 + offset) < tau, offset 1 for
    nearest_even, 0 for the directed modes; -1 for empty histograms or stochastic rounding."""
    offset = {"toward_zero": 0, "up": 0, "down": 0, "nearest_even": 1}.get(rounding, -1)
    h = np.atleast_2d(np.asarray(h))
    if offset < 0 or h[:, 1:].sum() == 0:
        return -1
    for m in range(RATIO_MAX):
        if float(np.sum(ratio_tail(h, m + 1 + offset))) < tau:
            return m
    return RATIO_MAX


def curves(paths):
    """Long form per-epoch metrics of one or several results files (as load()): columns file,
    point, epoch (1-based), status and one column per per-epoch metric the file records
    (epoch_metrics()). Every point has a row for each of its configured epochs (/points/epochs,
    else the dataset width); epochs not run are NaN."""
    frames = []
    for path in result_files(paths):
        cv = _curves_file(path)
        cv.insert(0, "file", path)
        frames.append(cv)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _curves_file(path):
    with open_file(path) as f:
        res = f["results"]
        status_codes = res["status"][()].astype(np.int64)
        n = status_codes.shape[0]
        finished = status_codes > 0
        metrics = {}
        width = 0
        for name in epoch_metrics(f):
            if name in res:
                a = res[name][()].astype(float).reshape(n, -1)  # [N, max_epochs]
                a[~finished] = np.nan
                metrics[name] = a
                width = max(width, a.shape[1])
        if "points" in f and "epochs" in f["points"]:
            configured = np.minimum(f["points"]["epochs"][()].astype(np.int64), width)
        else:
            configured = np.full(n, width, dtype=np.int64)
    configured = np.maximum(configured, 0)
    point = np.repeat(np.arange(n, dtype=np.int64), configured)
    # epoch index within each point: 0..configured-1
    starts = np.repeat(np.cumsum(configured) - configured, configured)
    epoch0 = np.arange(point.size, dtype=np.int64) - starts
    out = pd.DataFrame({"point": point, "epoch": epoch0 + 1,
                        "status": _status_category(status_codes[point])})
    for name, a in metrics.items():
        padded = a if a.shape[1] == width else np.pad(
            a, ((0, 0), (0, width - a.shape[1])), constant_values=np.nan)
        out[name] = padded[point, epoch0]
    return out
