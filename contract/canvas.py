"""Slices that are not square, or whose pixels are not square, reach the square model input unstretched.

A slice of ``H x W`` pixels with (row, column) spacing ``(sr, sc)`` covers ``H*sr x W*sc`` mm. It is
resampled so that its pixels are square (only when ``sr != sc``), its longer physical side keeping
``max(H, W)`` pixels, and centred on a square canvas of side ``P = max(H, W)`` pixels filled with 0
(the background of a windowed volume). The canvas then goes to the model like any slice
(:func:`contract.spec.to_model_input` resizes it to the model's side). A probability map comes back
the opposite way: resized to the canvas, cropped to where the slice lies on it, resized to ``H x W``.
The slice keeps its field of view (it is not resampled to a fixed size in mm: the training slices
carry none). A square slice with square pixels *is* its canvas, so nothing changes for it.
Unknown spacing (None) is taken as square pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SquareCanvas:
    """Where slices of ``shape`` = (H, W) lie on their square canvas.

    ``placed``: (h, w) of a slice once its pixels are square; ``side``: P, the canvas side.
    """

    shape: tuple[int, int]
    placed: tuple[int, int]
    side: int

    @classmethod
    def of(cls, shape: Sequence[int], spacing: Sequence[float | None] | None = None) -> SquareCanvas:
        """The canvas of ``(H, W)`` slices with ``(row, column)`` spacing (any unit; None: square pixels)."""
        height, width = int(shape[0]), int(shape[1])
        if height < 1 or width < 1:
            raise ValueError(f"a slice needs at least one pixel, got shape {tuple(shape)}")
        row, column = _spacing(spacing)
        side = max(height, width)
        per_pixel = max(height * row, width * column) / side  # canvas pixel size, same unit as spacing
        placed = (
            min(side, max(1, round(height * row / per_pixel))),
            min(side, max(1, round(width * column / per_pixel))),
        )
        return cls(shape=(height, width), placed=placed, side=side)

    @property
    def is_identity(self) -> bool:
        """True when the slices are their own canvas (square, square pixels)."""
        return self.shape == self.placed == (self.side, self.side)

    @property
    def origin(self) -> tuple[int, int]:
        """(top, left) of the slice on the canvas."""
        return (self.side - self.placed[0]) // 2, (self.side - self.placed[1]) // 2

    def put(self, slices: np.ndarray) -> np.ndarray:
        """``(N, H, W, C)`` slices -> ``(N, P, P, C)`` canvases (same dtype)."""
        if self.is_identity:
            return slices
        top, left = self.origin
        height, width = self.placed
        out = np.zeros((len(slices), self.side, self.side, *slices.shape[3:]), slices.dtype)
        for i, image in enumerate(slices):
            out[i, top : top + height, left : left + width] = _resize(image, self.placed)
        return out

    def take(self, probabilities: np.ndarray) -> np.ndarray:
        """A model's ``(S, S)`` or ``(S, S, 1)`` probability map of one canvas -> ``(H, W)`` float32 on the
        slice (bilinear resizing, as :func:`contract.spec.mask_from_probabilities`)."""
        prob = np.asarray(probabilities, dtype=np.float32)
        if prob.ndim == 3:
            prob = prob[..., 0]
        if prob.shape != (self.side, self.side):
            prob = cv2.resize(prob, (self.side, self.side), interpolation=cv2.INTER_LINEAR)
        top, left = self.origin
        prob = prob[top : top + self.placed[0], left : left + self.placed[1]]
        if self.placed != self.shape:
            prob = cv2.resize(
                np.ascontiguousarray(prob), (self.shape[1], self.shape[0]), interpolation=cv2.INTER_LINEAR
            )
        return prob


def _spacing(spacing: Sequence[float | None] | None) -> tuple[float, float]:
    if spacing is None:
        return 1.0, 1.0
    row, column = spacing
    if (
        row is None
        or column is None
        or not (np.isfinite(row) and np.isfinite(column))
        or min(row, column) <= 0
    ):
        return 1.0, 1.0
    return float(row), float(column)


def _resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize ``(H, W[, C])`` to ``shape``: area averaging when the pixel count shrinks, else bilinear
    (the rule of :func:`contract.spec.to_model_input`)."""
    if image.shape[:2] == shape:
        return image
    shrinking = shape[0] * shape[1] < image.shape[0] * image.shape[1]
    resized = cv2.resize(
        np.ascontiguousarray(image),
        (shape[1], shape[0]),
        interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
    )
    return resized.reshape(*shape, *image.shape[2:])
