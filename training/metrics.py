"""NumPy evaluation metrics on boolean masks and probabilities (used after training, any backend)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sklearn import metrics as skm

from imaging.metrics import dice

__all__ = ["best_threshold", "classification_report", "dice", "iou", "roc_auc", "segmentation_report"]


def iou(truth: np.ndarray, pred: np.ndarray) -> float:
    """Intersection over union of two boolean masks; 1.0 when both are empty."""
    truth, pred = np.asarray(truth, bool), np.asarray(pred, bool)
    union = np.logical_or(truth, pred).sum()
    return 1.0 if union == 0 else float(np.logical_and(truth, pred).sum() / union)


def segmentation_report(truth: np.ndarray, pred: np.ndarray, patients: list[str]) -> dict:
    """Segmentation scores over slices ``(N, H, W)`` grouped by patient.

    ``patient_dice``: Dice of each patient's whole volume (all its slices together);
    ``slice_dice_tumour``: per-slice Dice over slices whose truth has tumour; ``false_positive_slices``:
    healthy slices (empty truth) on which a mask was drawn.
    """
    truth, pred = np.asarray(truth, bool), np.asarray(pred, bool)
    by_patient: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(patients):
        by_patient[p].append(i)
    patient_dice = {p: dice(truth[idx], pred[idx]) for p, idx in sorted(by_patient.items())}
    has = truth.reshape(len(truth), -1).any(axis=1)
    drawn = pred.reshape(len(pred), -1).any(axis=1)
    slice_dice = np.array([dice(truth[i], pred[i]) for i in np.flatnonzero(has)])
    slice_iou = np.array([iou(truth[i], pred[i]) for i in np.flatnonzero(has)])
    values = np.array(list(patient_dice.values()))
    return {
        "patients": len(values),
        "patient_dice_mean": float(values.mean()),
        "patient_dice_median": float(np.median(values)),
        "patient_dice": patient_dice,
        "tumour_slices": int(has.sum()),
        "slice_dice_tumour_mean": float(slice_dice.mean()) if len(slice_dice) else None,
        "slice_iou_tumour_mean": float(slice_iou.mean()) if len(slice_iou) else None,
        "pixel_iou": iou(truth, pred),
        "healthy_slices": int((~has).sum()),
        "false_positive_slices": int((drawn & ~has).sum()),
        "false_positive_rate": float((drawn & ~has).sum() / max(1, (~has).sum())),
        "missed_tumour_slices": int((has & ~drawn).sum()),
    }


def best_threshold(truth: np.ndarray, prob: np.ndarray) -> float:
    """Classifier threshold that maximises accuracy (ties: the one nearest 0.5)."""
    candidates = np.unique(np.concatenate([prob, [0.5]]))
    acc = np.array([((prob >= t) == truth).mean() for t in candidates])
    best = np.flatnonzero(acc == acc.max())
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])


def roc_auc(truth: np.ndarray, prob: np.ndarray) -> float:
    """ROC AUC of slice probabilities; NaN when the slices hold one class only."""
    truth = np.asarray(truth, bool)
    return float(skm.roc_auc_score(truth, prob)) if 0 < truth.sum() < len(truth) else float("nan")


def classification_report(truth: np.ndarray, prob: np.ndarray, threshold: float) -> dict:
    """Accuracy, precision, recall, F1, ROC AUC and confusion matrix ``[[TN, FP], [FN, TP]]``."""
    truth = np.asarray(truth, bool)
    pred = np.asarray(prob) >= threshold
    return {
        "slices": len(truth),
        "threshold": float(threshold),
        "accuracy": float(skm.accuracy_score(truth, pred)),
        "precision": float(skm.precision_score(truth, pred, zero_division=0)),
        "recall": float(skm.recall_score(truth, pred, zero_division=0)),
        "f1": float(skm.f1_score(truth, pred, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(truth, prob)) if 0 < truth.sum() < len(truth) else None,
        "confusion_matrix": skm.confusion_matrix(truth, pred, labels=[False, True]).tolist(),
    }
