"""Channel rules: RGB = (pre-contrast, FLAIR, post-contrast); grey = FLAIR; alpha dropped."""

from __future__ import annotations

import numpy as np
import pytest

from service.errors import InvalidImage
from service.images import ImageLimits, decode_image
from service.images.decode import to_three_channels
from tests.service import samples

LIMITS = ImageLimits()


def test_rgb_order_is_kept():
    rgb = samples.lgg_pixels()
    assert np.array_equal(decode_image(samples.png_bytes(rgb), "image/png", LIMITS).pixels, rgb)


def test_grey_is_flair_in_all_three_channels():
    grey = samples.lgg_pixels()[..., 1]

    pixels = decode_image(samples.png_bytes(grey), "image/png", LIMITS).pixels

    assert pixels.shape == (256, 256, 3) and all(np.array_equal(pixels[..., c], grey) for c in range(3))


def test_alpha_is_dropped():
    rgb = samples.lgg_pixels()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    grey_alpha = np.dstack([rgb[..., 1], np.full(rgb.shape[:2], 7, np.uint8)])

    assert np.array_equal(to_three_channels(rgba), rgb)
    assert np.array_equal(decode_image(samples.png_bytes(rgba), None, LIMITS).pixels, rgb)
    assert np.array_equal(to_three_channels(grey_alpha)[..., 2], rgb[..., 1])


def test_dataset_tif_is_read_exactly():
    decoded = decode_image(samples.lgg_bytes(), "image/tiff", LIMITS)

    assert decoded.format == "tiff" and decoded.shape == (256, 256) and decoded.pixel_spacing_mm is None
    assert np.array_equal(decoded.pixels, samples.lgg_pixels())


def test_too_many_channels():
    with pytest.raises(InvalidImage, match="layout"):
        to_three_channels(np.zeros((40, 40, 5), np.uint8))


def test_dataset_jpeg_slice():
    data = samples.lgg_path(samples.JPEG_SLICE).read_bytes()

    decoded = decode_image(data, "image/jpeg", LIMITS)

    assert decoded.format == "jpeg" and decoded.pixels.shape == (256, 256, 3)
    assert decoded.pixels[..., 1].mean() > 5  # FLAIR channel holds the brain
