"""contract.canvas: non-square slices and non-square pixels on a square canvas, and back."""

from __future__ import annotations

import numpy as np
import pytest

from contract.canvas import SquareCanvas


def test_a_square_slice_with_square_pixels_is_its_own_canvas():
    canvas = SquareCanvas.of((64, 64), (0.9, 0.9))
    assert canvas.is_identity
    slices = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3)).astype(np.uint8)
    assert canvas.put(slices) is slices
    prob = np.random.default_rng(1).random((32, 32)).astype(np.float32)
    assert canvas.take(prob).shape == (64, 64)


def test_a_wide_slice_is_centred_with_zeros_above_and_below_not_stretched():
    canvas = SquareCanvas.of((48, 64))  # 64 wide, 48 high
    assert (canvas.side, canvas.placed, canvas.origin) == (64, (48, 64), (8, 0))
    slices = np.full((1, 48, 64, 3), 7, np.uint8)
    out = canvas.put(slices)
    assert out.shape == (1, 64, 64, 3)
    assert (out[0, 8:56] == 7).all() and (out[0, :8] == 0).all() and (out[0, 56:] == 0).all()
    # a probability map of the canvas comes back on the slice, cropped, same scale
    prob = np.zeros((64, 64), np.float32)
    prob[20:30, 10:20] = 1.0
    back = canvas.take(prob)
    assert back.shape == (48, 64)
    np.testing.assert_array_equal(np.argwhere(back >= 0.5).min(axis=0), [12, 10])


def test_non_square_pixels_are_resampled_to_their_true_proportions():
    # 64 x 64 pixels, rows 2 mm apart, columns 1 mm: 128 mm high, 64 mm wide
    canvas = SquareCanvas.of((64, 64), (2.0, 1.0))
    assert (canvas.side, canvas.placed, canvas.origin) == (64, (64, 32), (0, 16))
    image = np.zeros((1, 64, 64, 3), np.uint8)
    image[0, 16:48, 16:48] = 200  # 32 x 32 pixels = 64 mm x 32 mm
    out = canvas.put(image)[0, ..., 0]
    rows, cols = np.nonzero(out > 100)
    assert rows.max() - rows.min() + 1 == 32 and cols.max() - cols.min() + 1 == 16  # 2 mm pixels both ways
    mask = canvas.take(out.astype(np.float32) / 255.0) >= 0.5
    assert mask.shape == (64, 64)
    assert abs(int(mask.sum()) - 32 * 32) <= 2 * 32  # the square back where it was, within a column


@pytest.mark.parametrize("spacing", [None, (0.0, 1.0), (float("nan"), 1.0), (None, 2.0)])
def test_unknown_spacing_is_square_pixels(spacing):
    assert SquareCanvas.of((40, 40), spacing).is_identity


def test_extreme_spacing_never_makes_the_canvas_larger_than_the_slice():
    canvas = SquareCanvas.of((512, 32), (0.01, 100.0))
    assert canvas.side == 512 and max(canvas.placed) <= 512 and min(canvas.placed) >= 1
    assert canvas.put(np.zeros((1, 512, 32, 3), np.uint8)).shape == (1, 512, 512, 3)
