"""Mask agreement scores that training, evaluation and installation checks must compute alike.

Pure NumPy: ``scripts/check_folder.py`` scores a running service with it without importing
``training`` (or scikit-learn).
"""

from __future__ import annotations

import numpy as np


def dice(truth: np.ndarray, pred: np.ndarray) -> float:
    """Dice ``2|T.P| / (|T| + |P|)`` of two boolean masks of any (equal) shape, in [0, 1];
    1.0 when both are empty (nothing to find, nothing drawn)."""
    truth, pred = np.asarray(truth, bool), np.asarray(pred, bool)
    if truth.shape != pred.shape:
        raise ValueError(f"masks of different shapes: {truth.shape} and {pred.shape}")
    total = int(truth.sum()) + int(pred.sum())
    return 1.0 if total == 0 else float(2.0 * np.logical_and(truth, pred).sum() / total)
