"""critical_bits on constructed frames whose answer is known by hand (see the definition in
analysis/critical.py): a noisy dip above the threshold, averaging over seeds, the exponent
axis, no baseline, and settings that never reach the baseline.
Deliberately leaves out: results files (test_load.py, test_report.py use a real sweep).
"""
import numpy as np
import pandas as pd
import pytest

from precsweep.analysis import critical_bits


def frame(accuracy, baseline=0.90, seeds=(1,), extra=None):
    """accuracy: {(rounding, e, m): acc or [acc per seed]}; one fp32 baseline per seed
    (accuracy `baseline`, or None for no baseline). Returns a load()-shaped frame."""
    rows = []
    base_ids = {}
    if baseline is not None:
        for s in seeds:
            base_ids[s] = len(rows)
            rows.append(dict(rounding="toward_zero", exp_bits=8.0, man_bits=23.0,
                             format="fp32", kind="named", seed=s, is_baseline=True,
                             status="done", final_test_accuracy=baseline, baseline_index=-1))
    for (rounding, e, m), acc in accuracy.items():
        accs = acc if isinstance(acc, (list, tuple)) else [acc] * len(seeds)
        for s, a in zip(seeds, accs):
            rows.append(dict(rounding=rounding, exp_bits=float(e), man_bits=float(m),
                             format=f"E{e}M{m}", kind="float", seed=s, is_baseline=False,
                             status="done" if a is not None else "diverged",
                             final_test_accuracy=np.nan if a is None else a,
                             baseline_index=base_ids.get(s, -1)))
    df = pd.DataFrame(rows)
    df.insert(0, "point", np.arange(len(df)))
    df["lr"] = 0.1
    df["status"] = pd.Categorical(df["status"], ["pending", "done", "diverged", "failed"])
    df["kind"] = pd.Categorical(df["kind"], ["float", "named", "fixed", "unknown"])
    if extra:
        for k, v in extra.items():
            df[k] = v
    return df


def man_row(crit, **where):
    sel = crit[crit["axis"] == "man_bits"]
    for k, v in where.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, sel
    return sel.iloc[0]


def test_noisy_dip_moves_threshold_past_it():
    # baseline 0.90, tolerance 0.02 -> ok means acc >= 0.88.
    # m:   0     1     2     3     4     5     6
    acc = [0.10, 0.50, 0.89, 0.80, 0.89, 0.91, 0.90]
    df = frame({("toward_zero", 8, m): a for m, a in enumerate(acc)})
    r = man_row(critical_bits(df, tolerance=0.02), exp_bits=8.0)
    assert r["critical"] == 4  # m=2 is ok but m=3 dips below: 2 does not count
    assert r["below"] == 3
    assert r["reference"] == pytest.approx(0.90)
    assert r["reference_kind"] == "baseline"
    assert r["accuracy_at_critical"] == pytest.approx(0.89)
    assert r["accuracy_below"] == pytest.approx(0.80)
    assert r["widths"] == 7


def test_mean_over_seeds_and_per_rounding_mode():
    # Two seeds; at m=2 the seeds disagree (0.95, 0.70 -> mean 0.825 < 0.89 fails).
    df = frame({("toward_zero", 8, 1): [0.2, 0.3], ("toward_zero", 8, 2): [0.95, 0.70],
                ("toward_zero", 8, 4): [0.90, 0.90],
                ("nearest_even", 8, 1): [0.2, 0.3], ("nearest_even", 8, 2): [0.90, 0.92],
                ("nearest_even", 8, 4): [0.90, 0.91]},
               baseline=0.90, seeds=(1, 2))
    crit = critical_bits(df, tolerance=0.01)
    assert man_row(crit, rounding="toward_zero")["critical"] == 4
    assert man_row(crit, rounding="toward_zero")["below"] == 2
    assert man_row(crit, rounding="nearest_even")["critical"] == 2
    assert man_row(crit, rounding="nearest_even")["below"] == 1
    assert man_row(crit, rounding="nearest_even")["seeds"] == 2


def test_exponent_axis_and_mantissa_per_exponent():
    acc = {("toward_zero", 3, 4): 0.10, ("toward_zero", 4, 4): 0.60, ("toward_zero", 5, 4): 0.90,
           ("toward_zero", 8, 4): 0.90, ("toward_zero", 3, 8): 0.10, ("toward_zero", 4, 8): 0.89,
           ("toward_zero", 5, 8): 0.90, ("toward_zero", 8, 8): 0.91}
    crit = critical_bits(frame(acc), tolerance=0.01)
    exp_rows = crit[crit["axis"] == "exp_bits"].set_index("man_bits")
    assert exp_rows.loc[4.0, "critical"] == 5 and exp_rows.loc[4.0, "below"] == 4
    assert exp_rows.loc[8.0, "critical"] == 4 and exp_rows.loc[8.0, "below"] == 3
    assert np.isnan(exp_rows.loc[4.0, "exp_bits"])
    man_rows = crit[crit["axis"] == "man_bits"].set_index("exp_bits")
    assert man_rows.loc[3.0, "critical"] != man_rows.loc[3.0, "critical"]  # NaN: never ok
    assert man_rows.loc[5.0, "critical"] == 4 and np.isnan(man_rows.loc[5.0, "below"])


def test_never_within_tolerance_is_nan():
    df = frame({("toward_zero", 8, m): a for m, a in [(1, 0.1), (2, 0.5), (3, 0.7)]})
    r = man_row(critical_bits(df), exp_bits=8.0)
    assert np.isnan(r["critical"]) and np.isnan(r["below"])


def test_without_baseline_uses_widest_format():
    df = frame({("toward_zero", 8, m): a for m, a in [(1, 0.1), (2, 0.78), (4, 0.795), (8, 0.80)]},
               baseline=None)
    r = man_row(critical_bits(df, tolerance=0.01), exp_bits=8.0)
    assert r["reference_kind"] == "widest"
    assert r["reference"] == pytest.approx(0.80)
    assert r["critical"] == 4


def test_diverged_counts_as_zero_and_pending_is_ignored():
    df = frame({("toward_zero", 8, 1): [0.1, 0.1], ("toward_zero", 8, 2): [0.90, None],
                ("toward_zero", 8, 3): [0.90, 0.90], ("toward_zero", 8, 4): [0.90, 0.90]},
               seeds=(1, 2))
    # One seed at m=3 still pending: its (garbage) accuracy must not count.
    pending = df.index[(df["man_bits"] == 3) & (df["seed"] == 2)]
    df.loc[pending, "status"] = "pending"
    df.loc[pending, "final_test_accuracy"] = 0.0
    r = man_row(critical_bits(df, tolerance=0.01), exp_bits=8.0)
    assert r["critical"] == 3  # m=2: mean(0.90, 0 for diverged) = 0.45 fails
    assert r["seeds"] == pytest.approx((2 + 2 + 1 + 2) / 4)


def test_every_swept_setting_splits_groups():
    df = frame({("toward_zero", 8, m): a for m, a in [(1, 0.1), (2, 0.9), (3, 0.9)]})
    df2 = df.copy()
    df2["point"] += len(df)
    df2["baseline_index"] = np.where(df2["baseline_index"] >= 0,
                                     df2["baseline_index"] + len(df), -1)
    df2.loc[df2["man_bits"] == 2, "final_test_accuracy"] = 0.2
    df2["lr"] = 0.5
    both = pd.concat([df, df2], ignore_index=True)
    crit = critical_bits(both, tolerance=0.01)
    assert man_row(crit, lr=0.1)["critical"] == 2
    assert man_row(crit, lr=0.5)["critical"] == 3
    assert "seed" not in crit.columns


def test_seed_range_is_leave_one_seed_out():
    # m=2: seed 1 at 0.95, seed 2 at 0.70. Both seeds: mean 0.825 fails, critical 4.
    # Without seed 2: m=2 passes (critical 2); without seed 1: it fails (critical 4).
    df = frame({("toward_zero", 8, 1): [0.2, 0.3], ("toward_zero", 8, 2): [0.95, 0.70],
                ("toward_zero", 8, 4): [0.90, 0.90]}, baseline=0.90, seeds=(1, 2))
    r = man_row(critical_bits(df, tolerance=0.01), exp_bits=8.0)
    assert r["critical"] == 4
    assert (r["critical_min"], r["critical_max"]) == (2, 4)
    # When the seeds agree the range is one width.
    agree = frame({("toward_zero", 8, 1): [0.2, 0.3], ("toward_zero", 8, 2): [0.90, 0.91],
                   ("toward_zero", 8, 4): [0.90, 0.90]}, baseline=0.90, seeds=(1, 2))
    r = man_row(critical_bits(agree, tolerance=0.01), exp_bits=8.0)
    assert r["critical"] == r["critical_min"] == r["critical_max"] == 2
    # Without some seed no width qualifies: the range is open above (inf).
    open_top = frame({("toward_zero", 8, 2): [0.90, 0.50], ("toward_zero", 8, 4): [0.95, 0.86]},
                     baseline=0.90, seeds=(1, 2))
    r = man_row(critical_bits(open_top, tolerance=0.01), exp_bits=8.0)
    assert r["critical"] == 4 and r["critical_min"] == 2 and np.isinf(r["critical_max"])
    # One seed: no range.
    one = frame({("toward_zero", 8, m): a for m, a in [(1, 0.1), (2, 0.9)]})
    r = man_row(critical_bits(one), exp_bits=8.0)
    assert np.isnan(r["critical_min"]) and np.isnan(r["critical_max"])


def test_points_of_two_files_pool_and_follow_baselines_within_their_file():
    # The same ids in two files: file A's baseline is 0.90, file B's 0.70. A point of B must
    # be compared with B's baseline, not with A's point 0.
    a = frame({("toward_zero", 8, m): acc for m, acc in [(1, 0.1), (2, 0.9), (3, 0.9)]})
    b = frame({("toward_zero", 8, m): acc for m, acc in [(4, 0.9)]}, baseline=0.90)
    a.insert(0, "file", "a.h5")
    b.insert(0, "file", "b.h5")
    pooled = pd.concat([a, b], ignore_index=True)
    r = man_row(critical_bits(pooled, tolerance=0.01), exp_bits=8.0)
    assert r["critical"] == 2 and r["widths"] == 4 and r["reference_kind"] == "baseline"
    b.loc[b["is_baseline"], "final_test_accuracy"] = 0.70
    pooled = pd.concat([a, b], ignore_index=True)
    r = man_row(critical_bits(pooled, tolerance=0.01), exp_bits=8.0)
    assert r["reference"] == pytest.approx((0.90 + 0.70) / 2)  # both files' baselines


def test_encodings_with_the_same_widths_are_separate_settings():
    df = frame({("toward_zero", 4, m): a for m, a in [(1, 0.5), (2, 0.9), (3, 0.9)]})
    fn = df[~df["is_baseline"]].copy()
    fn["point"] += len(df)
    fn["encoding"] = "fn"
    fn.loc[fn["man_bits"] == 2, "final_test_accuracy"] = 0.5
    df["encoding"] = np.where(df["is_baseline"], "ieee", "ieee")
    crit = critical_bits(pd.concat([df, fn], ignore_index=True), tolerance=0.01)
    assert man_row(crit, encoding="ieee")["critical"] == 2
    assert man_row(crit, encoding="fn")["critical"] == 3
