"""Losses and metrics match values computed by hand on small arrays."""

import numpy as np
import pytest
from keras import ops

from training.losses import dice_bce_loss, focal_tversky_loss, soft_dice, tversky_index
from training.metrics import best_threshold, classification_report, dice, iou, segmentation_report

Y = np.array([[1, 1, 0, 0]], np.float32)
P = np.array([[0.8, 0.4, 0.2, 0.0]], np.float32)
# TP = 0.8 + 0.4 = 1.2, FN = 0.2 + 0.6 = 0.8, FP = 0.2, |Y| = 2, |P| = 1.4


def test_tversky_and_focal_tversky_by_hand():
    expected = 1.2 / (1.2 + 0.7 * 0.8 + 0.3 * 0.2)
    assert float(ops.convert_to_numpy(tversky_index(Y, P))) == pytest.approx(expected, rel=1e-5)
    assert float(ops.convert_to_numpy(focal_tversky_loss(Y, P))) == pytest.approx(
        (1 - expected) ** 0.75, rel=1e-5
    )


def test_dice_bce_by_hand():
    p = np.clip(P[0], 1e-7, 1 - 1e-7)
    bce = -np.mean(Y[0] * np.log(p) + (1 - Y[0]) * np.log(1 - p))
    sd = (2 * 1.2 + 1) / (2 + 1.4 + 1)
    assert float(ops.convert_to_numpy(soft_dice(Y, P))) == pytest.approx(sd, rel=1e-5)
    assert float(ops.convert_to_numpy(dice_bce_loss(Y, P))) == pytest.approx(bce + 1 - sd, rel=1e-4)


def test_perfect_prediction_has_near_zero_loss():
    assert float(ops.convert_to_numpy(focal_tversky_loss(Y, Y))) == pytest.approx(0.0, abs=1e-3)


def test_mask_metrics():
    t = np.array([[1, 1, 0, 0]], bool)
    p = np.array([[1, 0, 1, 0]], bool)
    assert dice(t, p) == pytest.approx(0.5)
    assert iou(t, p) == pytest.approx(1 / 3)
    assert dice(np.zeros(3, bool), np.zeros(3, bool)) == 1.0


def test_segmentation_report_groups_by_patient_and_counts_false_positives():
    truth = np.zeros((3, 2, 2), bool)
    truth[0, 0, 0] = True
    pred = np.zeros_like(truth)
    pred[0, 0, 0] = True  # patient a: perfect
    pred[2, 1, 1] = True  # patient b: a mask on a healthy slice
    report = segmentation_report(truth, pred, ["a", "a", "b"])
    assert report["patient_dice"] == {"a": 1.0, "b": 0.0}
    assert report["false_positive_slices"] == 1 and report["healthy_slices"] == 2
    assert report["slice_dice_tumour_mean"] == 1.0


def test_classifier_threshold_and_report():
    truth = np.array([0, 0, 1, 1], bool)
    prob = np.array([0.1, 0.6, 0.7, 0.9])
    t = best_threshold(truth, prob)
    assert 0.6 < t <= 0.7
    report = classification_report(truth, prob, t)
    assert report["accuracy"] == 1.0 and report["roc_auc"] == 1.0
    assert report["confusion_matrix"] == [[2, 0], [0, 2]]
