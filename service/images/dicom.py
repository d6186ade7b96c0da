"""DICOM decoding with pydicom: what reaches the models never depends on display settings.

Rules, in order:

1. Header: the file must have pixel data and ``Rows``/``Columns`` within the limits, and one frame.
2. ``Modality`` must be ``MR`` (the models were trained on brain MRI): any other value is a 422.
   A file without ``Modality`` is taken like a PNG or TIFF (no claim either way).
3. Transfer syntax: uncompressed, deflated, RLE Lossless, JPEG Baseline/Extended, JPEG Lossless
   (process 14, also selection value 1), JPEG-LS, JPEG 2000 (lossless and lossy) decode
   (pydicom with pylibjpeg, pylibjpeg-libjpeg and pylibjpeg-openjpeg). Any other is a 415 that
   names it (name and UID), checked before any pixel is decoded.
4. Grey images (:func:`modality_pixels`): stored values -> modality LUT (``RescaleSlope``/
   ``RescaleIntercept`` or a Modality LUT Sequence, pydicom's ``apply_modality_lut``); ``MONOCHROME1``
   is negated so that higher always means more signal; then the service's percentile normalisation
   (:func:`imaging.windowing.percentile_window`), as for any 16-bit image. ``WindowCenter``/
   ``WindowWidth``, VOI LUTs and presentation states are display settings and are never read.
5. Colour images (``SamplesPerPixel`` 3, YBR converted to RGB by pydicom): 8-bit used as is, deeper
   data by the percentile window. ``PALETTE COLOR`` is refused (422).
6. ``PixelSpacing`` (row, column spacing in mm), when present and positive, is reported.
"""

from __future__ import annotations

import io
import logging

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

from imaging.dicom.errors import BROKEN_DICOM, NO_PIXEL_DATA, NO_ROWS_COLUMNS, DicomError
from imaging.dicom.frames import pixel_spacing
from imaging.dicom.image import check_modality, check_transfer_syntax
from imaging.windowing import percentile_window, to_uint8
from service.errors import ImageError, InvalidImage, UnsupportedImage, dicom_refusal
from service.images.limits import ImageLimits
from service.images.sniff import has_dicom_magic

logger = logging.getLogger(__name__)

_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def decode_dicom(data: bytes, limits: ImageLimits) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Decode one DICOM slice to uint8 ``(H, W)`` or ``(H, W, 3)`` and its pixel spacing in mm.

    A failure of pydicom on a file with the ``DICM`` marker (values are parsed lazily, so anywhere)
    is :data:`BROKEN_DICOM` (422), as in a volume."""
    part10 = has_dicom_magic(data)
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=not part10)
        # Without the 'DICM' marker only the content type said DICOM: no pixels = not DICOM.
        recognised = part10 or any(tag in ds for tag in _PIXEL_TAGS)
    except Exception as exc:
        logger.debug("DICOM header not readable: %r", exc)
        if part10:
            raise InvalidImage(BROKEN_DICOM) from None
        recognised = False
    if not recognised:
        raise UnsupportedImage("not a readable DICOM file")
    try:
        return _decode(ds, limits)
    except ImageError:
        raise
    except DicomError as exc:  # the DICOM layer's checks (imaging.dicom.image): Modality, transfer syntax
        raise dicom_refusal(exc) from None
    except Exception as exc:
        logger.debug("DICOM decoding failed: %r", exc)
        raise InvalidImage(BROKEN_DICOM) from None


def _decode(ds: pydicom.Dataset, limits: ImageLimits) -> tuple[np.ndarray, tuple[float, float] | None]:
    if not any(tag in ds for tag in _PIXEL_TAGS):
        raise InvalidImage(NO_PIXEL_DATA)
    rows, columns = _int_or(ds.get("Rows"), 0), _int_or(ds.get("Columns"), 0)
    if not rows or not columns:
        raise InvalidImage(NO_ROWS_COLUMNS)
    limits.check(width=columns, height=rows)
    frames = _int_or(ds.get("NumberOfFrames"), 1)
    if frames != 1:
        raise InvalidImage(f"the DICOM file has {frames} frames; send one slice per file")
    check_modality(ds)
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    if photometric == "PALETTE COLOR":
        raise InvalidImage("PALETTE COLOR DICOM is not supported; send grey (MONOCHROME1/2) or RGB")
    if _int_or(ds.get("SamplesPerPixel"), 1) == 1:
        pixels = percentile_window(modality_pixels(ds))
    else:
        pixels = to_uint8(decoded_pixels(ds))
    if pixels.shape[:2] != (rows, columns) or pixels.ndim not in (2, 3):
        raise InvalidImage("the DICOM pixel data does not match its Rows/Columns")
    return pixels, pixel_spacing(ds)


def decoded_pixels(ds: pydicom.Dataset) -> np.ndarray:
    """The stored pixel values, decoded by pydicom (``pixel_array``: YBR colour is converted to RGB).

    ``(rows, columns)``, ``(rows, columns, 3)``, or with a leading frame axis for several frames.
    Raises :class:`imaging.dicom.errors.UnsupportedDicom` for a transfer syntax that cannot be decoded."""
    check_transfer_syntax(ds)
    return ds.pixel_array


def modality_pixels(ds: pydicom.Dataset) -> np.ndarray:
    """A grey DICOM dataset's pixels as float32 **modality values**: what the scanner measured,
    independent of any display setting.

    Stored values -> modality LUT (``RescaleSlope``/``RescaleIntercept``, or a Modality LUT Sequence;
    pydicom's ``apply_modality_lut``). ``MONOCHROME1`` data is negated so that a higher value always
    means more signal (the percentile normalisation only depends on the order of values, so this is
    the same as inverting the picture). ``WindowCenter``/``WindowWidth``, VOI LUTs and presentation
    states are never applied. Shape ``(rows, columns)`` for one frame, ``(frames, rows, columns)`` for
    several (one rescale for all frames: per-frame functional groups are not read).

    Raises :class:`imaging.dicom.errors.UnsupportedDicom` for a transfer syntax that cannot be decoded and
    :class:`InvalidImage` (422) for colour data. Check the frame count and size beforehand: this
    decodes the whole pixel data."""
    if _int_or(ds.get("SamplesPerPixel"), 1) != 1:
        raise InvalidImage("modality values are defined for grey (single-sample) DICOM images only")
    values = np.asarray(apply_modality_lut(decoded_pixels(ds), ds), dtype=np.float32)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        values = -values
    return values


def _int_or(value: object, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
