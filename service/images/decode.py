"""Turn the bytes of one upload into a model-ready slice.

Channel rules (after decoding, see :mod:`service.images.raster` and :mod:`service.images.dicom`):

- 3 channels (RGB) are the dataset's three sequences in order: pre-contrast, FLAIR, post-contrast.
- 1 channel (grey) is taken as FLAIR and repeated into all three channels.
- An alpha channel (grey+alpha, RGBA) is dropped.
- Data that is not 8-bit is mapped to 0..255 by :mod:`imaging.windowing` (per channel,
  0.5th-99.5th percentile linear window); DICOM first goes to modality values (see its module).
- ``sequences`` (what the answer is computed from): ``contract.SEQUENCES_FLAIR_ONLY`` for a grey
  upload, and for a 3-channel upload whose three channels are identical (grey content saved as RGB:
  the models see exactly the FLAIR-only input); ``contract.SEQUENCES_ALL`` otherwise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from contract.spec import SEQUENCES_ALL, SEQUENCES_FLAIR_ONLY
from imaging.windowing import to_uint8
from service.errors import ImageError, InvalidImage
from service.images.dicom import decode_dicom
from service.images.limits import ImageLimits
from service.images.raster import decode_png_or_jpeg, decode_tiff
from service.images.sniff import ImageFormat, sniff_format

__all__ = ["DecodedSlice", "ImageLimits", "decode_image", "slice_sequences", "to_three_channels"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecodedSlice:
    """One decoded upload.

    ``pixels``: ``(H, W, 3)`` uint8 at the uploaded size, channels (pre-contrast, FLAIR,
    post-contrast). ``pixel_spacing_mm``: (row, column) spacing in mm when the file gave it
    (DICOM ``PixelSpacing``), else None. ``format``: "png", "jpeg", "tiff" or "dicom".
    ``sequences``: ``contract.SEQUENCES_ALL`` or ``contract.SEQUENCES_FLAIR_ONLY`` (module docstring).
    """

    pixels: np.ndarray
    pixel_spacing_mm: tuple[float, float] | None
    format: ImageFormat
    sequences: str

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the uploaded image."""
        return self.pixels.shape[0], self.pixels.shape[1]


def decode_image(data: bytes, content_type: str | None, limits: ImageLimits) -> DecodedSlice:
    """Decode one upload; raises ``UnsupportedImage`` (415), ``InvalidImage`` (422, also for any
    failure of a decoder on the file's bytes) or ``RequestTooLarge`` (413, ``limits.pixels_left``)."""
    fmt = sniff_format(data, content_type)
    spacing = None
    try:
        if fmt == "dicom":
            pixels, spacing = decode_dicom(data, limits)
        elif fmt == "tiff":
            pixels = decode_tiff(data, limits)
        else:
            pixels = decode_png_or_jpeg(data, fmt, limits)
    except (ImageError, MemoryError):
        raise
    except Exception as exc:  # a decoder's own failure on hostile or unusual bytes: the file's fault
        logger.warning(
            "%s decoder failed on an upload: %s", fmt, type(exc).__name__, extra={"decoder_error": str(exc)}
        )
        raise InvalidImage(f"the {fmt.upper()} file could not be decoded") from exc
    three = to_three_channels(pixels)
    return DecodedSlice(three, spacing, fmt, slice_sequences(three))


def slice_sequences(pixels: np.ndarray) -> str:
    """What a ``(H, W, 3)`` model-ready slice holds: FLAIR only when its three channels are equal
    (a grey upload, repeated by :func:`to_three_channels`), else the three sequences."""
    same = np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2])
    return SEQUENCES_FLAIR_ONLY if same else SEQUENCES_ALL


def to_three_channels(pixels: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 1..4)`` pixels of any dtype -> ``(H, W, 3)`` uint8 (module rules)."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2] if pixels.ndim == 3 else 0
    if channels not in (1, 2, 3, 4):
        raise InvalidImage(f"unsupported pixel layout {pixels.shape}: expected grey, RGB or RGBA")
    if pixels.ndim == 3:
        pixels = pixels[..., 0] if channels <= 2 else pixels[..., :3]
    pixels = to_uint8(pixels)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    return np.ascontiguousarray(pixels)
