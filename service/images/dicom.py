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
   (:func:`contract.windowing.percentile_window`), as for any 16-bit image. ``WindowCenter``/
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
from pydicom.dataset import FileMetaDataset
from pydicom.pixels import apply_modality_lut, get_decoder
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from contract.windowing import percentile_window, to_uint8
from service.errors import ImageError, InvalidImage, UnsupportedImage
from service.images.limits import ImageLimits
from service.images.sniff import has_dicom_magic

logger = logging.getLogger(__name__)

_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
#: The only ``Modality`` the models were trained on.
MR_MODALITY = "MR"
#: The one answer (422) for a DICOM file whose header or pixel data pydicom cannot read, on every
#: endpoint (slices and volumes), whatever the decoder's own error.
BROKEN_DICOM = "the DICOM file is broken or truncated: its header or pixel data cannot be read"
NO_PIXEL_DATA = "the DICOM file has no pixel data"
NO_ROWS_COLUMNS = "the DICOM file has no Rows/Columns"


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
    return pixels, _pixel_spacing(ds)


def check_modality(ds: pydicom.Dataset) -> None:
    """Raise :class:`InvalidImage` (422) when ``Modality`` is present and not MR (rule 2)."""
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality and modality != MR_MODALITY:
        raise InvalidImage(
            f"the DICOM Modality is {modality}, not MR: the models were trained on brain MRI only"
        )


def check_transfer_syntax(ds: pydicom.Dataset) -> UID:
    """The dataset's transfer syntax; :class:`UnsupportedImage` (415) naming it when no installed
    pydicom decoder can decode its pixel data. A bare dataset gets the encoding it was read with."""
    _ensure_transfer_syntax(ds)
    uid = UID(ds.file_meta.TransferSyntaxUID)
    try:
        available = get_decoder(uid).is_available
    except NotImplementedError:  # pydicom has no decoder for it at all (e.g. MPEG, private syntaxes)
        available = False
    if not available:
        name = uid.name if uid.name != str(uid) else "unknown transfer syntax"
        raise UnsupportedImage(f"the DICOM transfer syntax {name} ({uid}) cannot be decoded by this service")
    return uid


def decoded_pixels(ds: pydicom.Dataset) -> np.ndarray:
    """The stored pixel values, decoded by pydicom (``pixel_array``: YBR colour is converted to RGB).

    ``(rows, columns)``, ``(rows, columns, 3)``, or with a leading frame axis for several frames.
    Raises :class:`UnsupportedImage` (415) for a transfer syntax that cannot be decoded."""
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

    Raises :class:`UnsupportedImage` (415) for a transfer syntax that cannot be decoded and
    :class:`InvalidImage` (422) for colour data. Check the frame count and size beforehand: this
    decodes the whole pixel data."""
    if _int_or(ds.get("SamplesPerPixel"), 1) != 1:
        raise InvalidImage("modality values are defined for grey (single-sample) DICOM images only")
    values = np.asarray(apply_modality_lut(decoded_pixels(ds), ds), dtype=np.float32)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        values = -values
    return values


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


def _int_or(value: object, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def _pixel_spacing(ds: pydicom.Dataset) -> tuple[float, float] | None:
    spacing = ds.get("PixelSpacing")
    try:
        row, column = (float(v) for v in spacing)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    if not (row > 0 and column > 0 and np.isfinite(row) and np.isfinite(column)):
        return None
    return row, column
