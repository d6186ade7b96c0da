"""Patient-bootstrap intervals."""

import numpy as np

from training import intervals


def test_a_mean_interval_holds_the_mean_and_narrows_with_more_patients():
    rng = np.random.default_rng(0)
    few, many = rng.normal(0.8, 0.1, 10), rng.normal(0.8, 0.1, 400)
    a, b = intervals.mean_interval(few), intervals.mean_interval(many)
    assert a["low"] < a["value"] < a["high"] and b["low"] < b["value"] < b["high"]
    assert b["high"] - b["low"] < a["high"] - a["low"]


def test_a_difference_is_above_zero_only_when_the_whole_interval_is():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.5, 0.9, 60)
    assert intervals.above_zero(intervals.difference_interval(base + 0.05, base))
    assert not intervals.above_zero(intervals.difference_interval(base + rng.normal(0, 0.05, 60), base))


def test_slice_figures_resample_whole_patients():
    patients = ["a"] * 3 + ["b"] * 2 + ["c"] * 5
    groups = intervals.patient_groups(patients)
    assert [len(g) for g in groups] == [3, 2, 5]
    flags = np.array([1, 1, 1, 0, 0, 1, 0, 1, 0, 1], bool)
    share = intervals.slice_interval(groups, lambda rows: float(flags[rows].mean()))
    assert share["value"] == 0.6 and 0 <= share["low"] <= share["high"] <= 1
