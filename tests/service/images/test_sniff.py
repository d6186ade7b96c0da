"""Format recognition from magic bytes and the DICOM content type."""

from __future__ import annotations

import pytest

from service.errors import UnsupportedImage
from service.images.sniff import sniff_format


@pytest.mark.parametrize(
    "head, fmt",
    [
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (b"II*\x00", "tiff"),
        (b"MM\x00*", "tiff"),
        (b"II+\x00", "tiff"),
        (b"\0" * 128 + b"DICM", "dicom"),
    ],
)
def test_magic_bytes(head, fmt):
    assert sniff_format(head + b"\0" * 64, None) == fmt


def test_dicom_content_type_marks_a_bare_dataset():
    assert sniff_format(b"\x08\x00\x05\x00CS", "application/dicom; charset=x") == "dicom"


def test_content_type_alone_does_not_make_a_png():
    with pytest.raises(UnsupportedImage):
        sniff_format(b"hello world", "image/png")


def test_empty():
    with pytest.raises(UnsupportedImage, match="empty"):
        sniff_format(b"", "image/png")
