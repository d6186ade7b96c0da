"""Encodings and summaries of a boolean tumour mask ``(H, W)`` (True = tumour pixel)."""

from __future__ import annotations

import base64

import cv2
import numpy as np


def rle_counts(mask: np.ndarray) -> list[int]:
    """COCO *uncompressed* RLE counts of ``mask``.

    The mask is read in column-major (Fortran) order and ``counts`` alternates run lengths of
    background and tumour, always starting with background (a leading 0 when the first pixel is
    tumour). ``pycocotools.mask.frPyObjects({"size": [h, w], "counts": counts}, h, w)`` followed by
    ``pycocotools.mask.decode`` gives the mask back.
    """
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate(([0], changes, [flat.size])))
    if flat.size and flat[0]:
        counts = np.concatenate(([0], counts))
    return [int(c) for c in counts]


def png_base64(mask: np.ndarray) -> str:
    """The mask as a base64-encoded 8-bit greyscale PNG with values 0 (background) and 255 (tumour)."""
    ok, encoded = cv2.imencode(".png", np.asarray(mask, dtype=np.uint8) * 255)
    if not ok:  # pragma: no cover - OpenCV encodes any 2-D uint8 array
        raise RuntimeError("PNG encoding of the mask failed")
    return base64.b64encode(encoded.tobytes()).decode("ascii")


def bounding_box(mask: np.ndarray) -> list[int] | None:
    """``[x_min, y_min, x_max, y_max]`` of the tumour pixels, inclusive pixel indices; None if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])]
