"""Thresholds and post-processing chosen on patient resamples of validation."""

import numpy as np

from training.thresholds import BOOTSTRAP_SAMPLES, choose_classifier_threshold, choose_segmenter


def test_classifier_threshold_is_the_bagged_optimum_with_its_spread():
    rng = np.random.default_rng(0)
    patients = [f"p{i // 20}" for i in range(200)]
    has = rng.random(200) < 0.4
    prob = np.clip(np.where(has, 0.7, 0.3) + rng.normal(0, 0.15, 200), 0, 1)
    choice = choose_classifier_threshold(has, prob, patients)
    assert 0.35 < choice["threshold"] < 0.65
    assert choice["spread"][0] <= choice["threshold"] <= choice["spread"][1]
    assert str(BOOTSTRAP_SAMPLES) in choice["method"]


def test_segmenter_choice_removes_specks_when_they_cost_dice():
    rng = np.random.default_rng(0)
    truth = np.zeros((12, 64, 64), bool)
    truth[::2, 20:40, 20:40] = True  # tumour on every other slice
    prob = np.where(truth, 0.9, 0.05)[..., None].astype(np.float32)
    for i in range(12):  # a bright 2x2 speck on every slice, away from the lesion
        y, x = rng.integers(45, 60, 2)
        prob[i, y : y + 2, x : x + 2] = 0.95
    choice = choose_segmenter(truth, prob, [f"p{i // 3}" for i in range(12)])
    assert choice["postprocess"]["min_component_pixels"] > 0
    assert 0.2 <= choice["threshold"] <= 0.85
    best = max(row["patient_dice_mean"] for row in choice["sweep"])
    assert best > 0.99 and 0 < choice["postprocess_wins"] <= 1
