"""Mask encodings: COCO RLE (checked with pycocotools), PNG and the bounding box."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest
from pycocotools import mask as coco_mask

from service.masks import bounding_box, png_base64, rle_counts


def _masks() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    full = np.ones((7, 5), bool)
    first = np.zeros((6, 9), bool)
    first[0, 0] = True
    last = np.zeros((6, 9), bool)
    last[-1, -1] = True
    return [rng.random((33, 47)) > 0.7, np.zeros((10, 12), bool), full, first, last]


@pytest.mark.parametrize("mask", _masks(), ids=["random", "empty", "full", "first-pixel", "last-pixel"])
def test_rle_round_trips_through_pycocotools(mask):
    h, w = mask.shape
    counts = rle_counts(mask)

    decoded = coco_mask.decode(coco_mask.frPyObjects({"size": [h, w], "counts": counts}, h, w))

    assert sum(counts) == h * w
    assert np.array_equal(decoded.astype(bool), mask)


def test_rle_starts_with_background():
    mask = np.ones((4, 4), bool)
    assert rle_counts(mask) == [0, 16]
    assert rle_counts(~mask) == [16]


def test_rle_is_column_major():
    mask = np.zeros((3, 2), bool)
    mask[0, 1] = True  # Fortran order: (0,0) (1,0) (2,0) (0,1) ...
    assert rle_counts(mask) == [3, 1, 2]


def test_png_is_8bit_0_255_of_the_mask_size():
    mask = np.zeros((20, 30), bool)
    mask[5:10, 3:8] = True

    image = cv2.imdecode(np.frombuffer(base64.b64decode(png_base64(mask)), np.uint8), cv2.IMREAD_UNCHANGED)

    assert image.dtype == np.uint8 and image.shape == (20, 30)
    assert np.array_equal(image == 255, mask) and set(np.unique(image)) == {0, 255}


def test_bounding_box_is_inclusive_x_then_y():
    mask = np.zeros((20, 30), bool)
    mask[5:10, 3:8] = True
    mask[12, 25] = True

    assert bounding_box(mask) == [3, 5, 25, 12]
    assert bounding_box(np.zeros((4, 4), bool)) is None
