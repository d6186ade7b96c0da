"""The per-volume intensity window: voxels of any scale and dtype -> the 8-bit intensities the models know.

Per sequence (channel), over the **whole volume**, a linear window from the ``LOW_PERCENTILE`` to
the ``HIGH_PERCENTILE`` percentile (:mod:`imaging.windowing`) onto 0..``target[c]``, clipped to
0..255. The targets are the medians, over the development patients, of each sequence's 99.5th percentile in the training
data: ``python -m training choose`` measures them and writes them to the model card
(:data:`TARGETS_KEY`, read by :func:`targets_of`), so a volume from a scanner (any scale, any dtype)
reaches the models with the intensities the training slices have. It does not
depend on the volume's scale, so a volume stored as uint8, int16 or float gives the same answer.

The window's arithmetic (percentiles, the sample they are taken on, the linear map) is the one of
:mod:`imaging.windowing`; this module adds what belongs to the models: the sequences, FLAIR alone
repeated on the three channels, and the card's targets. The window is fitted once
(:meth:`VolumeWindow.fit`) and applied to any block of the volume (:meth:`VolumeWindow.apply`), so a
volume is windowed a batch of slices at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from contract.spec import CHANNELS, FLAIR_CHANNEL
from imaging.windowing import percentile_bounds, window

#: Where the high percentile lands, per sequence (pre-contrast, FLAIR, post-contrast), for a models
#: folder whose card has no measured targets (the median 99.5th percentiles of the earlier training split).
VOLUME_TARGET = (149.0, 148.0, 142.0)
#: The card key of the measured targets (``python -m training choose``).
TARGETS_KEY = "volume_intensity_targets"


@dataclass(frozen=True)
class VolumeWindow:
    """The intensity window of one volume (module docstring): per sequence the (low, high)
    percentiles and the target of the high one; ``flair_only`` for a 3-D volume."""

    lows: tuple[float, ...]
    highs: tuple[float, ...]
    targets: tuple[float, ...]
    flair_only: bool

    @classmethod
    def fit(cls, volume: np.ndarray, targets: Sequence[float] = VOLUME_TARGET) -> VolumeWindow:
        """The window of ``(X, Y, Z)`` (FLAIR) or ``(X, Y, Z, 3)`` voxels of any numeric dtype, each
        sequence's :func:`imaging.windowing.percentile_bounds`; ``targets``:
        per sequence, where the high percentile lands (:func:`targets_of` a card)."""
        if volume.ndim == 3:
            channels, targets = [volume], (targets[FLAIR_CHANNEL],)
        elif volume.ndim == 4 and volume.shape[3] == len(CHANNELS):
            channels = [volume[..., c] for c in range(len(CHANNELS))]
        else:
            raise ValueError(f"expected (X, Y, Z) or (X, Y, Z, 3), got shape {volume.shape}")
        bounds = [percentile_bounds(channel) for channel in channels]
        return cls(
            lows=tuple(b[0] for b in bounds),
            highs=tuple(b[1] for b in bounds),
            targets=tuple(targets),
            flair_only=volume.ndim == 3,
        )

    def apply(self, block: np.ndarray) -> np.ndarray:
        """Voxels ``(..., )`` (FLAIR) or ``(..., 3)`` of the fitted volume -> ``(..., 3)`` uint8
        (FLAIR repeated on the three channels). Non-finite values count as 0; a constant sequence is 0."""
        if self.flair_only:
            flair = window(block, self.lows[0], self.highs[0], self.targets[0])
            return np.repeat(flair[..., None], len(CHANNELS), axis=-1)
        out = np.empty(block.shape, np.uint8)
        for c in range(len(CHANNELS)):
            out[..., c] = window(block[..., c], self.lows[c], self.highs[c], self.targets[c])
        return out


def targets_of(card: dict) -> tuple[float, ...]:
    """The card's measured intensity targets (:data:`TARGETS_KEY`), else :data:`VOLUME_TARGET`."""
    targets = card.get(TARGETS_KEY) or VOLUME_TARGET
    if len(targets) != len(CHANNELS):
        raise ValueError(f"the model card's {TARGETS_KEY} must hold {len(CHANNELS)} numbers, got {targets}")
    return tuple(float(t) for t in targets)


def normalise_volume(volume: np.ndarray) -> np.ndarray:
    """``(X, Y, Z)`` (FLAIR) or ``(X, Y, Z, 3)`` (the three sequences) of any numeric dtype ->
    ``(X, Y, Z, 3)`` uint8 on the same grid (module rule; FLAIR repeated on the three channels).

    The whole volume at once; :func:`predict_volume` applies the same :class:`VolumeWindow` a
    batch of slices at a time instead."""
    return VolumeWindow.fit(volume).apply(volume)
