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


def test_a_dicom_file_whose_preamble_is_a_tiff_header_is_dicom():
    # pydicom's MR_small.dcm is such a dual-personality file: "II*\0" at byte 0, "DICM" at 128
    assert sniff_format(b"II*\x00" + b"\0" * 124 + b"DICM" + b"\0" * 64, None) == "dicom"


def test_dicom_content_type_marks_a_bare_dataset():
    assert sniff_format(b"\x08\x00\x05\x00CS", "application/dicom; charset=x") == "dicom"


def test_content_type_alone_does_not_make_a_png():
    with pytest.raises(UnsupportedImage):
        sniff_format(b"hello world", "image/png")


def test_empty():
    with pytest.raises(UnsupportedImage, match="empty"):
        sniff_format(b"", "image/png")
