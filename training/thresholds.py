"""Thresholds and mask post-processing chosen on the validation patients, with their spread.

14 validation patients are few: the single best classifier threshold on them jumps with one
patient more or less (the bundled 0.225 did not transfer). So each choice is made on
:data:`BOOTSTRAP_SAMPLES` resamples of the validation *patients* (with replacement):

- classifier: the accuracy-maximising threshold of each resample; the served threshold is their
  median (a bagged estimate), reported with the 5th-95th percentile spread;
- segmenter: pixel threshold and post-processing (:mod:`contract.postprocess`) jointly, the
  combination with the best mean per-patient Dice over all validation patients, reported with the
  spread of the resamples' best thresholds and how often the chosen post-processing won.
"""

from __future__ import annotations

import itertools

import numpy as np

from contract import mask_from_probabilities
from contract.postprocess import FILL_HOLES_CANDIDATES, MIN_COMPONENT_CANDIDATES, postprocess_mask
from contract.spec import probabilities_at
from training.intervals import patient_groups, resamples
from training.metrics import best_threshold

BOOTSTRAP_SAMPLES = 200
SEGMENTER_THRESHOLDS = np.round(np.arange(0.2, 0.85, 0.05), 2)


def _spread(values) -> list[float]:
    return [float(v) for v in np.percentile(values, [5, 95])]


def choose_classifier_threshold(has: np.ndarray, prob: np.ndarray, patients: list[str]) -> dict:
    """``{"threshold": bagged median, "single_split": best on all validation slices, "spread": [p5, p95]}``."""
    groups = patient_groups(patients)
    picks = []
    for sample in resamples(len(groups), BOOTSTRAP_SAMPLES):
        idx = np.concatenate([groups[i] for i in sample])
        picks.append(best_threshold(has[idx], prob[idx]))
    return {
        "threshold": float(np.median(picks)),
        "single_split": best_threshold(has, prob),
        "spread": _spread(picks),
        "method": f"median of the accuracy-maximising thresholds of {BOOTSTRAP_SAMPLES} patient resamples",
    }


def masks(prob: np.ndarray, threshold: float, size: int, postprocess: dict | None = None) -> np.ndarray:
    """Boolean masks ``(N, size, size)`` from segmenter outputs, as the service draws them."""
    out = np.stack([mask_from_probabilities(p, (size, size), threshold) for p in prob])
    if postprocess and (postprocess["min_component_pixels"] or postprocess["fill_holes"]):
        out = np.stack([postprocess_mask(m, **postprocess) for m in out])
    return out


def _patient_dice(truth: np.ndarray, pred: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    inter = (truth & pred).reshape(len(truth), -1).sum(1)
    total = truth.reshape(len(truth), -1).sum(1) + pred.reshape(len(pred), -1).sum(1)
    out = []
    for idx in groups:
        t = total[idx].sum()
        out.append(1.0 if t == 0 else 2.0 * inter[idx].sum() / t)
    return np.array(out)


def choose_segmenter(truth: np.ndarray, prob: np.ndarray, patients: list[str]) -> dict:
    """Pixel threshold and post-processing with the best validation mean per-patient Dice.

    Returns ``{"threshold", "postprocess", "threshold_spread", "postprocess_wins", "sweep"}`` where
    ``sweep`` lists the mean per-patient Dice of every combination tried.
    """
    groups = patient_groups(patients)
    size = truth.shape[1]
    combos, scores = [], []
    native = np.stack([probabilities_at(p, (size, size)) for p in prob])  # resized once, thresholded below
    for t in SEGMENTER_THRESHOLDS:
        raw = native >= t
        for m, f in itertools.product(MIN_COMPONENT_CANDIDATES, FILL_HOLES_CANDIDATES):
            post = {"min_component_pixels": m, "fill_holes": f}
            pred = raw if not (m or f) else np.stack([postprocess_mask(x, **post) for x in raw])
            combos.append((float(t), post))
            scores.append(_patient_dice(truth, pred, groups))
    scores = np.array(scores)  # (combinations, patients)
    best = int(np.argmax(scores.mean(1)))
    picks = [
        int(np.argmax(scores[:, sample].mean(1))) for sample in resamples(len(groups), BOOTSTRAP_SAMPLES)
    ]
    threshold, post = combos[best]
    return {
        "threshold": threshold,
        "postprocess": post,
        "threshold_spread": _spread([combos[i][0] for i in picks]),
        "postprocess_wins": float(np.mean([combos[i][1] == post for i in picks])),
        "sweep": [
            {"threshold": t, **p, "patient_dice_mean": float(s)}
            for (t, p), s in zip(combos, scores.mean(1), strict=True)
        ],
    }
