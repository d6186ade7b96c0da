"""One DICOM image header (no pixels needed) checked as the layer's policy says, and its frames.

The checks every caller gets alike (:mod:`imaging.dicom`): ``Modality`` MR or absent, a transfer
syntax an installed pydicom decoder reads, ``Rows``/``Columns``, grey pixels (one sample,
``MONOCHROME1``/``MONOCHROME2``), 8, 16 or 32 bits allocated; then the frames with their geometry
and rescale (:mod:`imaging.dicom.frames`). Each refusal names the image by its label.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_decoder
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from imaging.dicom.errors import BROKEN_DICOM, NO_ROWS_COLUMNS, DicomError, UnsupportedDicom
from imaging.dicom.frames import Frame, frames_of

logger = logging.getLogger(__name__)

#: The only ``Modality`` the models were trained on.
MR_MODALITY = "MR"


@dataclass(frozen=True)
class DicomImage:
    """One checked image of a series: ``label`` names it in errors, ``header`` is its dataset
    (pixel data not needed) and ``frames`` its frames in the order the file stores them."""

    label: str
    header: Dataset
    frames: list[Frame]


def dicom_image(header: Dataset, label: str | None = None) -> DicomImage:
    """Check one image header and place its frames (``label``: how errors name it; default
    ``instance <InstanceNumber>``); a :class:`DicomError` whose message starts with the label."""
    label = label or f"instance {header.get('InstanceNumber', '?')}"
    try:
        check_modality(header)
        check_transfer_syntax(header)
        return DicomImage(label, header, _frames(label, header))
    except DicomError as exc:
        message = str(exc) if str(exc).startswith(label) else f"{label}: {exc}"
        raise type(exc)(message) from None
    except Exception as exc:  # a header value pydicom cannot parse (values are read lazily)
        logger.debug("DICOM header value not readable: %r", exc)
        raise DicomError(f"{label}: {BROKEN_DICOM}") from None


def check_modality(ds: Dataset) -> None:
    """:class:`DicomError` when ``Modality`` is present and not MR (absent: no claim either way)."""
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality and modality != MR_MODALITY:
        raise DicomError(
            f"the DICOM Modality is {modality}, not MR: the models were trained on brain MRI only"
        )


def check_transfer_syntax(ds: Dataset) -> UID:
    """The dataset's transfer syntax; :class:`UnsupportedDicom` naming it when no installed pydicom
    decoder can decode its pixel data. A bare dataset gets the encoding it was read with."""
    _ensure_transfer_syntax(ds)
    uid = UID(ds.file_meta.TransferSyntaxUID)
    try:
        available = get_decoder(uid).is_available
    except NotImplementedError:  # pydicom has no decoder for it at all (e.g. MPEG, private syntaxes)
        available = False
    if not available:
        name = uid.name if uid.name != str(uid) else "unknown transfer syntax"
        raise UnsupportedDicom(f"the DICOM transfer syntax {name} ({uid}) cannot be decoded by this service")
    return uid


def _frames(label: str, header: Dataset) -> list[Frame]:
    rows, columns = int(header.get("Rows") or 0), int(header.get("Columns") or 0)
    samples = int(header.get("SamplesPerPixel") or 1)
    bits = int(header.get("BitsAllocated") or 16)
    if not rows or not columns:
        raise DicomError(NO_ROWS_COLUMNS)
    photometric = str(header.get("PhotometricInterpretation", "")).upper()
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise DicomError(
            f"the DICOM image has {samples} samples per pixel ({header.get('PhotometricInterpretation', '')}); "
            "an MR volume is grey (MONOCHROME1/2)"
        )
    if bits not in (8, 16, 32):
        raise DicomError(f"the DICOM image has {bits} bits allocated per pixel; a volume needs 8, 16 or 32")
    return frames_of(header, label)


def _ensure_transfer_syntax(ds: Dataset) -> None:
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
