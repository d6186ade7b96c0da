"""Size limits."""

from __future__ import annotations

import pytest

from service.errors import InvalidImage, RequestTooLarge
from service.images.limits import ImageLimits
from service.settings import Settings


def test_limits():
    limits = ImageLimits(min_side=32, max_side=100, max_pixels=5000)
    limits.check(32, 100)
    limits.check(50, 100)
    for width, height in [(31, 50), (50, 31), (101, 40), (40, 101), (71, 71)]:
        with pytest.raises(InvalidImage):
            limits.check(width, height)


def test_request_budget_is_a_413_for_the_slice_that_exceeds_it():
    limits = ImageLimits(max_pixels=100 * 100, request_pixels=150 * 100)
    limits.check(100, 100)  # the whole budget left
    ImageLimits(request_pixels=15_000, pixels_left=5_000).check(50, 100)
    with pytest.raises(RequestTooLarge) as info:
        ImageLimits(request_pixels=15_000, pixels_left=5_000).check(60, 100)
    assert info.value.status_code == 413 and "15000" in info.value.detail


def test_defaults_are_the_settings_defaults(monkeypatch):
    for name in ("MIN_IMAGE_SIDE", "MAX_IMAGE_SIDE", "MAX_IMAGE_PIXELS", "MAX_REQUEST_PIXELS"):
        monkeypatch.delenv(f"MRI_{name}", raising=False)
    assert ImageLimits() == ImageLimits.from_settings(Settings())
    configured = ImageLimits.from_settings(Settings(min_image_side=8, max_request_pixels=100))
    assert (configured.min_side, configured.request_pixels) == (8, 100)
