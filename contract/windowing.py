"""Mapping of intensities wider than 8 bits to the 0..255 range the models take: the one percentile
window of the project, used by the service (uploads), training (augmentation) and whole volumes
(:func:`contract.volume.normalise_volume`).

Rule for 16-bit (and any other non-uint8: signed, 32-bit, float) PNG/TIFF data, and for DICOM
without a window: **each channel separately**, a linear window from the channel's 0.5th to its
99.5th percentile onto 0..255; values below/above are clipped to 0/255 and the result is rounded.
A channel whose percentiles coincide (a constant channel) becomes 0. Non-finite values count as 0.
8-bit data is used as it is; 1-bit (boolean) data becomes 0/255. Percentiles are taken on a
regular subsample of at most about :data:`PERCENTILE_SAMPLE` values (every k-th in memory order).
"""

from __future__ import annotations

import math

import numpy as np

LOW_PERCENTILE = 0.5
HIGH_PERCENTILE = 99.5
#: Percentiles are computed on a regular subsample of at most about this many values.
PERCENTILE_SAMPLE = 4_000_000


def linear_window(values: np.ndarray, low: float, high: float, top: float = 255.0) -> np.ndarray:
    """Map ``low`` -> 0 and ``high`` -> ``top`` linearly, clip to 0..255, round to uint8; a step at
    ``low`` (0 / 255) when high <= low."""
    values = np.asarray(values, dtype=np.float32)
    if high <= low:
        return np.where(values > low, 255, 0).astype(np.uint8)
    scaled = (values - np.float32(low)) * np.float32(top / (high - low))
    return np.rint(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)


def percentile_window(values: np.ndarray, top: float = 255.0) -> np.ndarray:
    """One channel of any shape (a 2-D slice, a 3-D volume) to uint8: its ``LOW_PERCENTILE`` -> 0 and
    ``HIGH_PERCENTILE`` -> ``top`` (module docstring); a constant channel becomes 0."""
    values = np.asarray(values, dtype=np.float32)
    values = np.where(np.isfinite(values), values, np.float32(0.0))
    step = max(1, math.ceil(values.size / PERCENTILE_SAMPLE))
    low, high = np.percentile(values.ravel()[::step], [LOW_PERCENTILE, HIGH_PERCENTILE])
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return linear_window(values, float(low), float(high), top)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A 2-D ``(H, W)`` or ``(H, W, C)`` image of any numeric dtype as uint8 (module docstring rule)."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if image.ndim == 2:
        return percentile_window(image)
    return np.stack([percentile_window(image[..., c]) for c in range(image.shape[2])], axis=-1)
