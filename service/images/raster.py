"""PNG, JPEG and TIFF decoding: header first (size check), then pixels.

PNG/JPEG headers are read with Pillow (lazy: only the header is parsed) and pixels decoded with
OpenCV, which keeps 16-bit grey and 16-bit colour PNGs at full depth. TIFFs are read with
tifffile (single page; contiguous or planar samples; 8/16/32-bit integer or float); pixel data
whose compression tifffile cannot decode without its optional codecs (LZW) goes to Pillow.
Decoders return the pixels as ``(H, W)`` or ``(H, W, C)`` in R, G, B(, A) order, any dtype.
"""

from __future__ import annotations

import io
import logging

import cv2
import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from service.errors import InvalidImage, UnsupportedImage
from service.images.limits import ImageLimits

logger = logging.getLogger(__name__)

_PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG"}


def decode_png_or_jpeg(data: bytes, fmt: str, limits: ImageLimits) -> np.ndarray:
    """Decode a PNG or JPEG (``fmt`` = "png" | "jpeg") after checking its declared size."""
    try:
        with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[fmt]]) as header:
            width, height = header.size
    except Image.DecompressionBombError:
        raise InvalidImage(
            f"image declares too many pixels; the limit is {limits.max_side} pixels per side "
            f"and {limits.max_pixels} pixels in all"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedImage(f"not a readable {fmt.upper()} file") from exc
    limits.check(width, height)
    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.shape[:2] != (height, width):
        raise InvalidImage(f"the {fmt.upper()} pixel data could not be decoded")
    return _bgr_to_rgb(pixels)


def _bgr_to_rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        return pixels[..., ::-1]
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        return pixels[..., [2, 1, 0, 3]]
    return pixels


def decode_tiff(data: bytes, limits: ImageLimits) -> np.ndarray:
    """Decode a single-page TIFF after checking its declared size (multi-page -> 422)."""
    try:
        tif = tifffile.TiffFile(io.BytesIO(data))
    except Exception as exc:  # tifffile raises many types for a broken header
        raise UnsupportedImage("not a readable TIFF file") from exc
    with tif:
        try:
            n_pages = len(tif.pages)
            page = tif.pages.first
            axes, shape = page.axes, page.shape
        except Exception as exc:
            raise UnsupportedImage("not a readable TIFF file") from exc
        if n_pages != 1:
            raise InvalidImage(f"TIFF has {n_pages} pages; send one slice per file")
        if "Y" not in axes or "X" not in axes or set(axes) - {"Y", "X", "S"}:
            raise InvalidImage(f"unsupported TIFF layout (axes {axes!r}); expected one 2-D slice")
        limits.check(width=shape[axes.index("X")], height=shape[axes.index("Y")])
        if page.photometric == tifffile.PHOTOMETRIC.PALETTE:
            raise InvalidImage("palette TIFF is not supported; send grey or RGB")
        try:
            # one thread: a slice's strips decode in well under a millisecond, and tifffile's default
            # starts a thread pool per call, which costs several (docs/benchmarks.md, the request profile)
            pixels = page.asarray(maxworkers=1)
        except Exception as exc:  # e.g. LZW needs the optional imagecodecs package
            logger.debug("tifffile could not decode the TIFF pixels (%r); trying Pillow", exc)
            compression = getattr(page.compression, "name", str(page.compression))  # unknown codes are ints
            return _decode_tiff_with_pillow(data, shape[axes.index("Y")], compression)
    if axes.startswith("S"):  # planar configuration: samples first
        pixels = np.moveaxis(pixels, 0, -1)
    if page.photometric == tifffile.PHOTOMETRIC.MINISWHITE:
        if pixels.dtype == np.uint8:
            pixels = 255 - pixels
        else:
            pixels = ~pixels if pixels.dtype == np.bool_ else -pixels.astype(np.float32)
    return pixels


def _decode_tiff_with_pillow(data: bytes, height: int, compression: str) -> np.ndarray:
    """Fallback for compressions tifffile cannot decode alone (LZW without imagecodecs)."""
    try:
        with Image.open(io.BytesIO(data), formats=["TIFF"]) as image:
            pixels = np.asarray(image)
    except Exception:
        pixels = None
    if pixels is None or pixels.ndim not in (2, 3) or pixels.shape[0] != height:
        raise InvalidImage(f"the TIFF pixel data could not be decoded (compression {compression})")
    return pixels
