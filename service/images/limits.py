"""Size limits on uploaded images, checked from the file header before any pixel is decoded."""

from __future__ import annotations

from dataclasses import dataclass

from service.errors import InvalidImage


@dataclass(frozen=True)
class ImageLimits:
    """Accepted image sizes: each side in [min_side, max_side] and width x height <= max_pixels."""

    min_side: int = 32
    max_side: int = 4096
    max_pixels: int = 4096 * 4096

    def check(self, width: int, height: int) -> None:
        """Raise :class:`InvalidImage` (422) when a ``width`` x ``height`` image is out of limits."""
        if width < self.min_side or height < self.min_side:
            raise InvalidImage(
                f"image is {width}x{height} pixels; width and height must be at least {self.min_side}"
            )
        if width > self.max_side or height > self.max_side or width * height > self.max_pixels:
            raise InvalidImage(
                f"image is {width}x{height} pixels; the limit is {self.max_side} pixels per side "
                f"and {self.max_pixels} pixels in all"
            )
