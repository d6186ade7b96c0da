"""Recognise the format of an upload from its first bytes (and, for DICOM, its content type)."""

from __future__ import annotations

from typing import Literal

from service.errors import UnsupportedImage

ImageFormat = Literal["png", "jpeg", "tiff", "dicom"]

_SIGNATURES: tuple[tuple[bytes, ImageFormat], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
)
DICOM_CONTENT_TYPES = frozenset({"application/dicom", "application/dicom+octet-stream"})


def has_dicom_magic(data: bytes) -> bool:
    """True for a DICOM Part 10 file: ``DICM`` after the 128-byte preamble."""
    return data[128:132] == b"DICM"


def sniff_format(data: bytes, content_type: str | None) -> ImageFormat:
    """The format of ``data``, from its magic bytes; ``application/dicom`` also marks DICOM files
    written without the preamble. Raises :class:`UnsupportedImage` (415) for anything else."""
    if not data:
        raise UnsupportedImage("the file is empty")
    if has_dicom_magic(data):  # first: some DICOM files have a TIFF header as their preamble
        return "dicom"
    for signature, fmt in _SIGNATURES:
        if data.startswith(signature):
            return fmt
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in DICOM_CONTENT_TYPES:
        return "dicom"
    raise UnsupportedImage("not a supported image: send PNG, JPEG, TIFF or DICOM")
