"""The one intensity window of the project: values of any scale and dtype -> the 0..255 the models take.

Every window is the same arithmetic: a channel's ``LOW_PERCENTILE`` and ``HIGH_PERCENTILE``
(:func:`percentile_bounds`, on a regular subsample of at most about :data:`PERCENTILE_SAMPLE`
values, every k-th in C order) mapped linearly onto 0 and ``top``, clipped to 0..255 and rounded
(:func:`window`); non-finite values count as 0 and a channel whose percentiles coincide (a
constant channel) becomes 0. Two uses differ only in ``top`` and in what one channel is:

- **Uploads** (16-bit and any other non-uint8 PNG/TIFF, DICOM slices without a window):
  :func:`to_uint8`, each channel of one slice onto 0..255. 8-bit data is used as it is; 1-bit
  (boolean) data becomes 0/255. Training's augmentation takes the same window (:func:`linear_window`).
- **Whole volumes**: each sequence over the whole volume onto the model card's intensity target
  (:class:`contract.volume_window.VolumeWindow`, which fits the bounds once and applies them a batch
  of slices at a time).
"""

from __future__ import annotations

import math

import numpy as np

LOW_PERCENTILE = 0.5
HIGH_PERCENTILE = 99.5
#: Percentiles are computed on a regular subsample of at most about this many values.
PERCENTILE_SAMPLE = 4_000_000


def percentile_bounds(values: np.ndarray) -> tuple[float, float]:
    """The (``LOW_PERCENTILE``, ``HIGH_PERCENTILE``) percentiles of one channel of any shape, from
    every k-th value in C order (at most about :data:`PERCENTILE_SAMPLE`); non-finite values count as 0."""
    values = np.asarray(values)
    step = max(1, math.ceil(values.size / PERCENTILE_SAMPLE))
    sample = _finite_float32(values.flat[::step])  # C order whatever the memory layout, no copy of the rest
    low, high = np.percentile(sample, [LOW_PERCENTILE, HIGH_PERCENTILE])
    return float(low), float(high)


def window(values: np.ndarray, low: float, high: float, top: float = 255.0) -> np.ndarray:
    """The window of the module docstring with given bounds: ``low`` -> 0, ``high`` -> ``top``, clipped
    to 0..255, rounded to uint8; non-finite values count as 0; all 0 when ``high <= low``."""
    if high <= low:
        return np.zeros(np.shape(values), np.uint8)
    return linear_window(_finite_float32(values), low, high, top)


def linear_window(values: np.ndarray, low: float, high: float, top: float = 255.0) -> np.ndarray:
    """Map ``low`` -> 0 and ``high`` -> ``top`` linearly, clip to 0..255, round to uint8; a step at
    ``low`` (0 / 255) when high <= low. Finite values only (:func:`window` takes any)."""
    values = np.asarray(values, dtype=np.float32)
    if high <= low:
        return np.where(values > low, 255, 0).astype(np.uint8)
    scaled = (values - np.float32(low)) * np.float32(top / (high - low))
    return np.rint(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)


def percentile_window(values: np.ndarray, top: float = 255.0) -> np.ndarray:
    """One channel of any shape (a 2-D slice, a 3-D volume) to uint8: its own percentile bounds onto
    0..``top`` (module docstring); a constant channel becomes 0."""
    return window(values, *percentile_bounds(values), top)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A 2-D ``(H, W)`` or ``(H, W, C)`` image of any numeric dtype as uint8 (module docstring rule)."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.bool_:
        return image.astype(np.uint8) * 255
    if image.ndim == 2:
        return percentile_window(image)
    return np.stack([percentile_window(image[..., c]) for c in range(image.shape[2])], axis=-1)


def _finite_float32(values: np.ndarray) -> np.ndarray:
    floating = np.asarray(values).dtype.kind == "f"
    values = np.asarray(values, dtype=np.float32)
    return np.where(np.isfinite(values), values, np.float32(0.0)) if floating else values
