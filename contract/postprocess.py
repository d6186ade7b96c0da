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
    if not out.any():
        return out
    # both steps work on the mask's bounding box: every component lies in it, and background in it
    # reaches the image's border exactly when it reaches the box's (what is outside is background)
    x, y, w, h = cv2.boundingRect(out.view(np.uint8))
    box = out[y : y + h, x : x + w]  # a view: the steps below write into ``out``
    if fill_holes:
        # flood the background from a one-pixel frame round the box (4-connected): what the flood
        # does not reach is background that does not touch the border, a hole
        framed = cv2.copyMakeBorder(box.view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        cv2.floodFill(framed, None, (0, 0), 1)
        box |= framed[1:-1, 1:-1] == 0
    if min_component_pixels:
        scaled = min_component_pixels * out.size / NATIVE_SLICE_SIZE**2
        # Grana's block-based algorithm: the same labels, a few times faster here than the default
        _, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
            box.view(np.uint8), 8, cv2.CV_32S, cv2.CCL_GRANA
        )
        keep = stats[:, cv2.CC_STAT_AREA] >= scaled
        if not keep[1:].all():
            box &= np.take(keep, labels)  # label 0, the background, is False in ``box`` already
    return out


def postprocess_settings(segmenter_card: dict[str, Any] | None) -> dict[str, Any]:
    """The post-processing of a segmenter's card entry (``NO_POSTPROCESS`` when it has none)."""
    chosen = (segmenter_card or {}).get("postprocess") or {}
    return {**NO_POSTPROCESS, **{k: v for k, v in chosen.items() if k in NO_POSTPROCESS}}
