"""DICOM decoding with pydicom.

Rules, in order:

1. Header: the file must have pixel data and ``Rows``/``Columns`` within the limits, and one frame.
2. Pixels: ``pixel_array`` (uncompressed and RLE-lossless transfer syntaxes; compressed JPEG
   variants need pydicom's optional decoder plugins and are refused with 422 without them).
3. Grey images: the modality LUT (``RescaleSlope``/``RescaleIntercept``) is applied; then the first
   ``WindowCenter``/``WindowWidth`` pair maps to 0..255 with the linear DICOM window
   (PS3.3 C.11.2.1.2: ``c - 0.5 -/+ (w - 1) / 2`` -> 0 / 255); without a window, the percentile
   window of :mod:`contract.windowing`. ``MONOCHROME1`` (white = low values) is inverted.
4. Colour images (``SamplesPerPixel`` 3): 8-bit used as is, deeper data by the percentile window.
5. ``PixelSpacing`` (row, column spacing in mm), when present and positive, is reported.
"""

from __future__ import annotations

import io
import logging

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from service.errors import ImageError, InvalidImage, UnsupportedImage
from service.images.limits import ImageLimits
from service.images.sniff import has_dicom_magic
from contract.windowing import linear_window, percentile_window, to_uint8

logger = logging.getLogger(__name__)

_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def decode_dicom(data: bytes, limits: ImageLimits) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Decode one DICOM slice to uint8 ``(H, W)`` or ``(H, W, 3)`` and its pixel spacing in mm.

    A failure of pydicom on a broken file (values are parsed lazily, so anywhere) is a 422."""
    part10 = has_dicom_magic(data)
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=not part10)
        # Without the 'DICM' marker only the content type said DICOM: no pixels = not DICOM.
        recognised = part10 or any(tag in ds for tag in _PIXEL_TAGS)
    except Exception:  # pydicom raises many types on broken input
        recognised = False
    if not recognised:
        raise UnsupportedImage("not a readable DICOM file")
    try:
        return _decode(ds, limits)
    except ImageError:
        raise
    except Exception as exc:
        logger.info("DICOM decoding failed: %r", exc)
        raise InvalidImage("the DICOM file is broken or uses an unsupported encoding") from None


def _decode(ds: pydicom.Dataset, limits: ImageLimits) -> tuple[np.ndarray, tuple[float, float] | None]:
    if not any(tag in ds for tag in _PIXEL_TAGS):
        raise InvalidImage("the DICOM file has no pixel data")
    rows, columns = _int_or(ds.get("Rows"), 0), _int_or(ds.get("Columns"), 0)
    if not rows or not columns:
        raise InvalidImage("the DICOM file has no Rows/Columns")
    limits.check(width=columns, height=rows)
    frames = _int_or(ds.get("NumberOfFrames"), 1)
    if frames != 1:
        raise InvalidImage(f"the DICOM file has {frames} frames; send one slice per file")
    _ensure_transfer_syntax(ds)
    pixels = ds.pixel_array
    if pixels.shape[:2] != (rows, columns):
        raise InvalidImage("the DICOM pixel data does not match its Rows/Columns")
    image = to_uint8(pixels) if pixels.ndim == 3 else _grey_to_uint8(pixels, ds)
    return image, _pixel_spacing(ds)


def _ensure_transfer_syntax(ds: pydicom.Dataset) -> None:
    """A bare dataset (no file meta) has no transfer syntax: use the encoding it was read with."""
    meta = ds.get("file_meta") or FileMetaDataset()
    if "TransferSyntaxUID" not in meta:
        implicit_vr, little_endian = ds.original_encoding
        meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian
            if implicit_vr
            else ExplicitVRLittleEndian
            if little_endian
            else ExplicitVRBigEndian
        )
        ds.file_meta = meta


def _grey_to_uint8(pixels: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    values = apply_modality_lut(pixels, ds)
    window = _window(ds)
    if window is None:
        image = percentile_window(values)
    else:
        centre, width = window
        image = linear_window(values, centre - 0.5 - (width - 1) / 2, centre - 0.5 + (width - 1) / 2)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        image = 255 - image
    return image


def _first(value: object) -> float | None:
    """First number of a DICOM value that may be multi-valued; None when absent or not a number."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, MultiValue)):
        value = value[0] if len(value) else None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _int_or(value: object, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _window(ds: pydicom.Dataset) -> tuple[float, float] | None:
    centre, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if centre is None or width is None or width < 1:
        return None
    return centre, width


def _pixel_spacing(ds: pydicom.Dataset) -> tuple[float, float] | None:
    spacing = ds.get("PixelSpacing")
    try:
        row, column = (float(v) for v in spacing)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    if not (row > 0 and column > 0 and np.isfinite(row) and np.isfinite(column)):
        return None
    return row, column
