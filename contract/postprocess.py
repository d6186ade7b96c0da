"""Mask post-processing, chosen on the validation patients and applied alike in evaluation and serving.

The model card's segmenter entry carries ``postprocess`` = ``{"min_component_pixels": N,
"fill_holes": bool}`` (:data:`NO_POSTPROCESS` when absent). ``min_component_pixels`` counts pixels
at the data's native slice size (:data:`~contract.spec.NATIVE_SLICE_SIZE` squared); on an upload of
another size it scales with the area.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from contract.spec import NATIVE_SLICE_SIZE

NO_POSTPROCESS: dict[str, Any] = {"min_component_pixels": 0, "fill_holes": False}
#: The candidates tried on the validation patients (every pair of these).
MIN_COMPONENT_CANDIDATES = (0, 10, 25, 50, 100)
FILL_HOLES_CANDIDATES = (False, True)


def postprocess_mask(mask: np.ndarray, min_component_pixels: int = 0, fill_holes: bool = False) -> np.ndarray:
    """A 2-D boolean mask without its 8-connected components smaller than ``min_component_pixels``
    (scaled from the native slice area to this mask's area) and, with ``fill_holes``, with every
    background region that does not touch the border filled. Returns a new boolean mask."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    if min_component_pixels < 0:
        raise ValueError(f"min_component_pixels must be >= 0, got {min_component_pixels}")
    out = mask.copy()
    if fill_holes and out.any():
        # flood the background from a one-pixel frame round the mask (4-connected): what the flood
        # does not reach is background that does not touch the border, a hole
        framed = np.pad(out.astype(np.uint8), 1)
        cv2.floodFill(framed, None, (0, 0), 1)
        out |= framed[1:-1, 1:-1] == 0
    if min_component_pixels and out.any():
        scaled = min_component_pixels * out.size / NATIVE_SLICE_SIZE**2
        _, labels, stats, _ = cv2.connectedComponentsWithStats(out.astype(np.uint8), connectivity=8)
        small = stats[:, cv2.CC_STAT_AREA] < scaled
        small[0] = False  # label 0 is the background
        if small.any():
            out &= ~small[labels]
    return out


def postprocess_settings(segmenter_card: dict[str, Any] | None) -> dict[str, Any]:
    """The post-processing of a segmenter's card entry (``NO_POSTPROCESS`` when it has none)."""
    chosen = (segmenter_card or {}).get("postprocess") or {}
    return {**NO_POSTPROCESS, **{k: v for k, v in chosen.items() if k in NO_POSTPROCESS}}
