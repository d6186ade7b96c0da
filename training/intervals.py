"""Patient-bootstrap intervals: resample the patients (with replacement), recompute, take percentiles.

Slices of one patient are correlated, so the unit of resampling is the patient, never the slice.
Every function takes ``groups``, the row indices of each patient (:func:`patient_groups`), and
returns ``{"value": on all patients, "low": 2.5th percentile, "high": 97.5th percentile}``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95


def patient_groups(patients: Sequence[str]) -> list[np.ndarray]:
    """Row indices of each patient, patients in sorted order."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(patients):
        groups[p].append(i)
    return [np.array(rows) for _, rows in sorted(groups.items())]


def resamples(n_patients: int, count: int = RESAMPLES) -> np.ndarray:
    """``(count, n_patients)`` patient indices: the same resamples for every figure (paired)."""
    return np.random.default_rng(SEED).integers(0, n_patients, (count, n_patients))


def _interval(value: float, samples: np.ndarray) -> dict:
    tail = 100 * (1 - LEVEL) / 2
    samples = samples[np.isfinite(samples)]
    low, high = np.percentile(samples, [tail, 100 - tail]) if len(samples) else (np.nan, np.nan)
    return {"value": float(value), "low": float(low), "high": float(high)}


def mean_interval(per_patient: np.ndarray) -> dict:
    """The mean of a per-patient figure (e.g. each patient's Dice) with its interval."""
    per_patient = np.asarray(per_patient, float)
    return _interval(per_patient.mean(), per_patient[resamples(len(per_patient))].mean(axis=1))


def median_interval(per_patient: np.ndarray) -> dict:
    per_patient = np.asarray(per_patient, float)
    return _interval(np.median(per_patient), np.median(per_patient[resamples(len(per_patient))], axis=1))


def difference_interval(a: np.ndarray, b: np.ndarray) -> dict:
    """Mean of ``a - b`` over patients (paired per-patient figures) with its interval."""
    return mean_interval(np.asarray(a, float) - np.asarray(b, float))


def slice_interval(groups: list[np.ndarray], metric: Callable[[np.ndarray], float]) -> dict:
    """A figure computed on slices (``metric(rows)``, e.g. ROC AUC or accuracy of those rows) with its
    interval over patient resamples (each resample's rows: its patients' slices, repeats kept)."""
    samples = np.array(
        [metric(np.concatenate([groups[i] for i in sample])) for sample in resamples(len(groups))]
    )
    return _interval(metric(np.concatenate(groups)), samples)


def above_zero(interval: dict) -> bool:
    """Whether a difference's interval lies wholly above 0 (the rule's bar for the costlier option)."""
    return interval["low"] > 0
