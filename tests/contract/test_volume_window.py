"""contract.volume_window: the whole-volume window is the one window arithmetic onto the card's targets."""

from __future__ import annotations

import numpy as np
import pytest

from contract.volume_window import TARGETS_KEY, VOLUME_TARGET, VolumeWindow, targets_of
from imaging.windowing import percentile_window


def test_the_volume_window_is_the_upload_window_onto_the_cards_target():
    """One arithmetic: a FLAIR volume's window is percentile_window with the FLAIR target as ``top``,
    non-finite voxels included."""
    volume = np.random.default_rng(3).gamma(2.0, 300.0, (40, 30, 9)).astype(np.float32)
    volume[0, 0, :3] = [np.nan, np.inf, -np.inf]

    windowed = VolumeWindow.fit(volume).apply(volume)

    for c in range(3):
        np.testing.assert_array_equal(windowed[..., c], percentile_window(volume, top=VOLUME_TARGET[1]))


def test_each_sequence_lands_on_its_own_target_from_the_card():
    volume = np.random.default_rng(4).gamma(2.0, 300.0, (20, 20, 6, 3)).astype(np.float32)
    targets = targets_of({TARGETS_KEY: [120, 140, 160]})

    windowed = VolumeWindow.fit(volume, targets).apply(volume)

    for c, target in enumerate(targets):
        np.testing.assert_array_equal(windowed[..., c], percentile_window(volume[..., c], top=target))
    assert targets_of({}) == VOLUME_TARGET
    with pytest.raises(ValueError, match=TARGETS_KEY):
        targets_of({TARGETS_KEY: [1, 2]})
