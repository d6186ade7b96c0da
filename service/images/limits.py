"""Size limits on uploaded images, checked from the file header before any pixel is decoded."""

from __future__ import annotations

from dataclasses import dataclass

from service.errors import InvalidImage, RequestTooLarge
from service.settings import Settings

_DEFAULTS = Settings.model_fields  # the defaults are the settings' (MRI_MIN_IMAGE_SIDE, ...), defined there


@dataclass(frozen=True)
class ImageLimits:
    """Accepted image sizes: each side in [min_side, max_side] and width x height <= max_pixels.

    ``request_pixels`` caps the pixels of all slices of one request together (decoded memory);
    ``pixels_left`` is what remains of it for the next slice (None: the whole of it).
    Defaults: those of :class:`~service.settings.Settings`; :meth:`from_settings` takes a
    configured one.
    """

    min_side: int = _DEFAULTS["min_image_side"].default
    max_side: int = _DEFAULTS["max_image_side"].default
    max_pixels: int = _DEFAULTS["max_image_pixels"].default
    request_pixels: int = _DEFAULTS["max_request_pixels"].default
    pixels_left: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageLimits:
        """The limits a configured service applies."""
        return cls(
            settings.min_image_side,
            settings.max_image_side,
            settings.max_image_pixels,
            settings.max_request_pixels,
        )

    def check(self, width: int, height: int) -> None:
        """Raise :class:`InvalidImage` (422) when a ``width`` x ``height`` image is out of limits,
        :class:`RequestTooLarge` (413) when it would take the request over ``request_pixels``."""
        if width < self.min_side or height < self.min_side:
            raise InvalidImage(
                f"image is {width}x{height} pixels; width and height must be at least {self.min_side}"
            )
        if width > self.max_side or height > self.max_side or width * height > self.max_pixels:
            raise InvalidImage(
                f"image is {width}x{height} pixels; the limit is {self.max_side} pixels per side "
                f"and {self.max_pixels} pixels in all"
            )
        left = self.request_pixels if self.pixels_left is None else self.pixels_left
        if width * height > left:
            raise RequestTooLarge(
                f"the slices of this request have more than {self.request_pixels} pixels together; "
                "send fewer or smaller slices per request"
            )
