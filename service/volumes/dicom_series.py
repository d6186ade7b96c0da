"""One DICOM series (several files, or a ``.zip`` of them) -> one volume, through :mod:`imaging.dicom`.

Two passes. **Headers** (no pixel decoded): every file is looked at; files that are not DICOM
(no ``DICM`` marker: README, Thumbs.db, .txt), ``DICOMDIR`` and DICOM objects without pixel data
are skipped and counted (``skipped_files``); each image is checked, its frames placed and the
series ordered and refused by the one policy of :mod:`imaging.dicom` (its refusals answer 422, an
undecodable transfer syntax 415: :func:`service.errors.dicom_refusal`). The volume's limits are
checked and the memory it needs is then known. **Pixels** are decoded a frame at a time
(``pydicom.pixels.iter_pixels`` on each file) into one array (:meth:`DicomSeries.pixels`). The
volume's axes are (slice, row, column).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import iter_pixels
from pydicom.uid import MediaStorageDirectoryStorage

from imaging.dicom.errors import BROKEN_DICOM, NO_PIXEL_DATA, DicomError
from imaging.dicom.image import DicomImage, dicom_image
from imaging.dicom.series import DicomSeries, dicom_series
from service.errors import InvalidImage, UnsupportedImage, dicom_refusal
from service.volumes.volume import CheckStop, PendingVolume, Volume, VolumeLimits

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

DICM_OFFSET = 128
#: (7FE0,0010) Pixel Data, as little- and big-endian bytes.
_PIXEL_DATA_TAGS = (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")
NO_IMAGE_HINT = "send a .zip of one DICOM series or its DICOM files"


class _Unnamed(io.RawIOBase):
    """A file without its ``name``: a temporary file's name is its descriptor number, which pydicom
    would paste into its own messages (and fail on)."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # any writable buffer
        data = self._file.read(len(memoryview(buffer)))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()


def is_dicom(file: BinaryIO) -> bool:
    """True when ``file`` has the ``DICM`` marker at byte 128 (rewinds it)."""
    file.seek(0)
    head = file.read(DICM_OFFSET + 4)
    file.seek(0)
    return head[DICM_OFFSET:] == b"DICM"


def open_series(
    files: Sequence[tuple[str, BinaryIO]], limits: VolumeLimits, check_stop: CheckStop, skipped: int = 0
) -> PendingVolume:
    """Read and check the headers of one series (``(label, file)``; labels name files in errors)."""
    limits.check_files(len(files), "the upload")
    images: list[_Image] = []
    without_pixels: list[str] = []
    not_dicom = 0
    for label, file in files:
        check_stop()
        if not is_dicom(file):
            skipped += 1
            not_dicom += 1
            continue
        file = _Unnamed(file)  # type: ignore[assignment]
        header, kind = _read_header(label, file)
        if kind != "image":
            skipped += 1
            if kind == "no pixel data":
                without_pixels.append(label)
            continue
        images.append(_Image(file, file.tell(), _checked(dicom_image, header, label)))
    if not images:
        if without_pixels:
            raise InvalidImage(f"{without_pixels[0]}: {NO_PIXEL_DATA}")
        raise UnsupportedImage(no_image_detail(len(files), not_dicom, 0, "sent"))
    return _pending(images, limits, skipped)


def no_image_detail(files: int, not_dicom: int, zips: int, where: str) -> str:
    """The 415 when no file of an upload is a DICOM image, saying what the files were: ``zips``
    inside a zip (not opened), files ``not_dicom`` (no DICM marker), the rest skipped (a DICOMDIR)."""
    kinds = []
    if zips:
        kinds.append(f"{zips} zip file{'s' * (zips != 1)} (a zip inside the zip is not opened)")
    if not_dicom:
        kinds.append(f"{not_dicom} without the DICM marker at byte {DICM_OFFSET}")
    if files - zips - not_dicom:
        kinds.append(f"{files - zips - not_dicom} DICOMDIR or skipped by name")
    found = f" ({', '.join(kinds)})" if kinds else ""
    subject = f"the file {where} is not" if files == 1 else f"none of the {files} files {where} is"
    return f"{subject} a DICOM image{found}; {NO_IMAGE_HINT}"


@dataclass
class _Image:
    """One DICOM image of the upload: its file (pixels decoded from it later), the bytes of its
    header and the checked image (header, frames)."""

    file: BinaryIO
    header_bytes: int
    image: DicomImage


def _read_header(label: str, file: BinaryIO) -> tuple[Dataset, str]:
    """The header up to the pixel data (``PixelData`` kept as an empty marker when present) and what
    the file is: ``image``, ``DICOMDIR`` or ``no pixel data``."""
    try:
        file.seek(0)
        header = pydicom.dcmread(file, stop_before_pixels=True)
        position = file.tell()
        has_pixels = file.read(4) in _PIXEL_DATA_TAGS  # pydicom stops right before that element
        file.seek(position)
        directory = header.get("SOPClassUID") == MediaStorageDirectoryStorage
    except Exception as exc:
        logger.debug("DICOM header not readable: %r", exc)
        raise InvalidImage(f"{label}: {BROKEN_DICOM}") from None
    if has_pixels:
        header.PixelData = b""  # a marker only; pixels are decoded from the file later
    return header, "DICOMDIR" if directory else "image" if has_pixels else "no pixel data"


def _pending(images: list[_Image], limits: VolumeLimits, skipped: int) -> PendingVolume:
    rows, columns = int(images[0].image.header.Rows), int(images[0].image.header.Columns)
    limits.check_slices(sum(len(image.image.frames) for image in images), "the series")
    limits.check_slice_size(rows, columns)
    series: DicomSeries = _checked(dicom_series, [image.image for image in images])
    bits = max(int(image.image.header.get("BitsAllocated") or 16) for image in images)
    limits.check_bytes(series.shape[0] * rows * columns * bits // 8, "the series' pixel data")

    def decoded(index: int) -> Iterator[np.ndarray]:
        file = images[index].file
        file.seek(0)
        return iter_pixels(file)

    def load(check_stop: CheckStop) -> Volume:
        return Volume(
            data=_checked(series.pixels, decoded, check_stop),
            affine=series.affine,
            spacing_mm=series.spacing_mm,
            kind="dicom",
            series=series,
            warnings=[_warning(missing) for missing in series.geometry.missing],
            skipped_files=skipped,
        )

    return PendingVolume(
        shape=series.shape,
        channels=1,
        itemsize=series.dtype.itemsize,
        slice_shape=(rows, columns),
        files=len(images),
        header_bytes=sum(image.header_bytes for image in images),
        kind="dicom",
        load=load,
    )


def _checked(read: Callable[..., _T], *args: object) -> _T:
    """``read(*args)`` with the DICOM layer's refusals as the service's answers (422, 415)."""
    try:
        return read(*args)
    except DicomError as exc:
        raise dicom_refusal(exc) from None


def _warning(missing: str) -> str:
    """The answer's warning for what the series does not give (:attr:`SeriesGeometry.missing`)."""
    return f"{missing}: spacing_mm and tumour_volume_ml are null"
