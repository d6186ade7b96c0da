"""imaging.metrics.dice on masks whose overlap is counted by hand."""

from __future__ import annotations

import numpy as np
import pytest

from imaging.metrics import dice


def test_dice_counts_the_overlap():
    truth = np.zeros((4, 4), bool)
    pred = np.zeros((4, 4), bool)
    truth[0, :3] = True  # 3 pixels
    pred[0, 1:] = True  # 3 pixels, 2 of them shared
    assert dice(truth, pred) == pytest.approx(2 * 2 / 6)
    assert dice(truth, truth) == 1.0 and dice(truth, ~truth) == 0.0


def test_dice_of_two_empty_masks_is_1_and_of_one_empty_mask_0():
    empty = np.zeros((3, 3), bool)
    assert dice(empty, empty) == 1.0
    assert dice(empty, np.eye(3, dtype=bool)) == 0.0


def test_dice_refuses_masks_of_different_shapes():
    with pytest.raises(ValueError, match="different shapes"):
        dice(np.zeros((2, 2)), np.zeros((2, 3)))


def test_dice_over_a_volume_pools_its_slices():
    volume_truth = np.stack([np.eye(4, dtype=bool), np.zeros((4, 4), bool)])
    volume_pred = np.stack([np.eye(4, dtype=bool), np.eye(4, dtype=bool)])
    assert dice(volume_truth, volume_pred) == pytest.approx(2 * 4 / (4 + 8))
