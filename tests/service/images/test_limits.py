"""Size limits."""

from __future__ import annotations

import pytest

from service.errors import InvalidImage
from service.images.limits import ImageLimits


def test_limits():
    limits = ImageLimits(min_side=32, max_side=100, max_pixels=5000)
    limits.check(32, 100)
    limits.check(50, 100)
    for width, height in [(31, 50), (50, 31), (101, 40), (40, 101), (71, 71)]:
        with pytest.raises(InvalidImage):
            limits.check(width, height)
