"""DICOM slices built from a real LGG slice: windows, rescale, MONOCHROME1, colour, spacing."""

from __future__ import annotations

import numpy as np
import pytest

from service.errors import InvalidImage
from service.images import ImageLimits, decode_image
from contract.windowing import percentile_window
from tests.service import samples

LIMITS = ImageLimits()
FLAIR = samples.lgg_pixels()[..., 1]
STORED = FLAIR.astype(np.uint16) * 16  # 12-bit data as an MR scanner would store it


def _decode(data: bytes, content_type: str | None = None):
    return decode_image(data, content_type, LIMITS)


def test_window_centre_and_width_give_back_the_slice():
    decoded = _decode(samples.dicom_bytes(STORED, window=(2048, 4096)))

    assert decoded.format == "dicom" and decoded.pixels.shape == (256, 256, 3)
    assert np.abs(decoded.pixels[..., 1].astype(int) - FLAIR).max() <= 1
    assert np.array_equal(decoded.pixels[..., 0], decoded.pixels[..., 2])  # grey = FLAIR everywhere


def test_narrow_window_clips():
    decoded = _decode(samples.dicom_bytes(STORED, window=(1000.5, 1001)))  # 500..1500 -> 0..255

    expected = np.clip(np.rint((STORED.astype(float) - 500) / 1000 * 255), 0, 255)
    assert np.abs(decoded.pixels[..., 1].astype(int) - expected).max() <= 1


def test_rescale_slope_and_intercept_apply_before_the_window():
    # stored = (value + 1000) / 2 -> value = 2 * stored - 1000; the window is in value units
    stored = ((FLAIR.astype(np.float64) * 16 + 1000) / 2).astype(np.uint16)
    decoded = _decode(samples.dicom_bytes(stored, rescale=(2.0, -1000.0), window=(2048, 4096)))

    assert np.abs(decoded.pixels[..., 1].astype(int) - FLAIR).max() <= 1


def test_no_window_uses_the_percentile_rule():
    decoded = _decode(samples.dicom_bytes(STORED))

    assert np.array_equal(decoded.pixels[..., 1], percentile_window(STORED))


def test_monochrome1_is_inverted():
    normal = _decode(samples.dicom_bytes(STORED, window=(2048, 4096))).pixels
    inverted = _decode(
        samples.dicom_bytes(4095 - STORED, photometric="MONOCHROME1", window=(2048, 4096))
    ).pixels

    assert np.abs(inverted.astype(int) - normal).max() <= 1


def test_signed_16bit():
    decoded = _decode(samples.dicom_bytes(STORED.astype(np.int16) - 2048, window=(0, 4096)))

    assert np.abs(decoded.pixels[..., 1].astype(int) - FLAIR).max() <= 1


def test_rgb_dicom_keeps_the_channels():
    rgb = samples.lgg_pixels()

    assert np.array_equal(_decode(samples.dicom_bytes(rgb)).pixels, rgb)


def test_pixel_spacing_is_reported():
    assert _decode(samples.dicom_bytes(STORED, spacing=(0.45, 0.5))).pixel_spacing_mm == (0.45, 0.5)
    assert _decode(samples.dicom_bytes(STORED)).pixel_spacing_mm is None


def test_bare_dataset_with_dicom_content_type():
    decoded = _decode(samples.dicom_bytes(STORED, window=(2048, 4096), part10=False), "application/dicom")

    assert np.abs(decoded.pixels[..., 1].astype(int) - FLAIR).max() <= 1


def test_multi_frame_is_refused():
    with pytest.raises(InvalidImage, match="frames"):
        _decode(samples.dicom_bytes(np.concatenate([STORED, STORED]), frames=2))
