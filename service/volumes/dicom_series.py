"""One DICOM series (several files, or a ``.zip`` of them) -> one volume, with pydicom.

Two passes. **Headers** (no pixel decoded): every file is looked at; files that are not DICOM
(no ``DICM`` marker: README, Thumbs.db, .txt), ``DICOMDIR`` and DICOM objects without pixel data
are skipped and counted (``skipped_files``); each image is checked as on the slice endpoints
(:mod:`service.images.dicom`: ``Modality`` MR, a transfer syntax that can be decoded, and the same
422 for a broken file), must be grey, and all must share one ``SeriesInstanceUID`` (several: 422
naming each with its file count), ``Rows``/``Columns``, orientation and pixel spacing. Single-frame
images and multi-frame Enhanced MR images (and a series of several of them) are read alike, frame
by frame (:mod:`service.volumes.frames`); the frames are ordered along their normal and refused when
two share a position or a step is missing (:mod:`service.volumes.geometry`). The memory the volume
needs is then known. **Pixels** are decoded a frame at a time (``pydicom.pixels.iter_pixels``) into
one array of the stored values (or float32 modality values, see :mod:`service.volumes.frames`): the
modality LUT only, so display windows and VOI LUTs never reach the models; ``MONOCHROME1`` is
inverted. The volume's axes are (slice, row, column).
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import iter_pixels
from pydicom.uid import MediaStorageDirectoryStorage

from service.errors import ImageError, InvalidImage, UnsupportedImage
from service.images.dicom import (
    BROKEN_DICOM,
    NO_PIXEL_DATA,
    NO_ROWS_COLUMNS,
    check_modality,
    check_transfer_syntax,
)
from service.volumes.frames import Frame, frames_of, modality_values, stored_dtype
from service.volumes.geometry import series_geometry
from service.volumes.volume import CheckStop, PendingVolume, Volume, VolumeLimits

logger = logging.getLogger(__name__)

DICM_OFFSET = 128
#: (7FE0,0010) Pixel Data, as little- and big-endian bytes.
_PIXEL_DATA_TAGS = (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")
NO_IMAGE_HINT = "send a .zip of one DICOM series or its DICOM files"


@dataclass
class _Image:
    """One DICOM image of the series: its header (no pixels) and where its bytes are."""

    label: str
    file: BinaryIO
    header: Dataset
    header_bytes: int
    frames: list[Frame]


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
        images.append(_Image(label, file, header, file.tell(), _checked_frames(label, header)))
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


def _checked_frames(label: str, header: Dataset) -> list[Frame]:
    """The checks of the slice endpoints (same errors), grey pixels, then the frames."""
    try:
        check_modality(header)
        check_transfer_syntax(header)
        rows, columns = int(header.get("Rows") or 0), int(header.get("Columns") or 0)
        samples = int(header.get("SamplesPerPixel") or 1)
        bits = int(header.get("BitsAllocated") or 16)
        return _frames(label, header, rows, columns, samples, bits)
    except ImageError as exc:
        raise exc if exc.detail.startswith(label) else exc.for_upload(label) from None
    except Exception as exc:
        logger.debug("DICOM header value not readable: %r", exc)
        raise InvalidImage(f"{label}: {BROKEN_DICOM}") from None


def _frames(label: str, header: Dataset, rows: int, columns: int, samples: int, bits: int) -> list[Frame]:
    if not rows or not columns:
        raise InvalidImage(NO_ROWS_COLUMNS)
    if samples != 1 or str(header.get("PhotometricInterpretation", "")).upper() not in ("MONOCHROME1", "MONOCHROME2"):
        raise InvalidImage(
            f"the DICOM image has {samples} samples per pixel ({header.get('PhotometricInterpretation', '')}); "
            "an MR volume is grey (MONOCHROME1/2)"
        )
    if bits not in (8, 16, 32):
        raise InvalidImage(f"the DICOM image has {bits} bits allocated per pixel; a volume needs 8, 16 or 32")
    return frames_of(header, label)


def _pending(images: list[_Image], limits: VolumeLimits, skipped: int) -> PendingVolume:
    _check_one_series(images)
    first = images[0]
    rows, columns = int(first.header.Rows), int(first.header.Columns)
    for image in images[1:]:
        size = (int(image.header.Rows), int(image.header.Columns))
        if size != (rows, columns):
            raise InvalidImage(f"{image.label} is {size[1]}x{size[0]} pixels, {first.label} {columns}x{rows}")
    frames = [frame for image in images for frame in image.frames]
    limits.check_slices(len(frames), "the series")
    limits.check_slice_size(rows, columns)
    store = stored_dtype([image.header for image in images], frames)
    bits = max(int(image.header.get("BitsAllocated") or 16) for image in images)
    limits.check_bytes(len(frames) * rows * columns * bits // 8, "the series' pixel data")
    thickness = next((f.thickness for f in frames if f.thickness is not None), None)
    geometry = series_geometry([f.geometry for f in frames], thickness)
    slot = {frame: k for k, frame in enumerate(geometry.order)}  # frame index -> slice index

    def load(check_stop: CheckStop) -> Volume:
        data = np.empty((len(frames), rows, columns), store)
        start = 0
        for image in images:
            for offset, pixels in enumerate(_decoded_frames(image, rows, columns)):
                index = start + offset
                data[slot[index]] = modality_values(pixels, frames[index], store, image.header)
                check_stop()
            start += len(image.frames)
        return Volume(
            data=data,
            affine=geometry.affine,
            spacing_mm=geometry.spacing_mm,
            kind="dicom",
            datasets=[image.header for image in images],
            frame_order=list(geometry.order),
            warnings=list(geometry.warnings),
            skipped_files=skipped,
        )

    return PendingVolume(
        shape=(len(frames), rows, columns),
        channels=1,
        itemsize=store.itemsize,
        slice_shape=(rows, columns),
        files=len(images),
        header_bytes=sum(image.header_bytes for image in images),
        kind="dicom",
        load=load,
    )


def _decoded_frames(image: _Image, rows: int, columns: int) -> Iterator[np.ndarray]:
    """The frames of one image as pydicom decodes them, checked against Rows/Columns."""
    image.file.seek(0)
    count = 0
    try:
        for pixels in iter_pixels(image.file):
            if pixels.shape != (rows, columns):
                raise InvalidImage(f"{image.label}: the DICOM pixel data does not match its Rows/Columns")
            count += 1
            yield pixels
    except ImageError:
        raise
    except Exception as exc:
        logger.debug("DICOM pixel decoding failed: %r", exc)
        raise InvalidImage(f"{image.label}: {BROKEN_DICOM}") from None
    if count != len(image.frames):
        raise InvalidImage(f"{image.label}: {BROKEN_DICOM}")


def _check_one_series(images: list[_Image]) -> None:
    uids = Counter(str(image.header.get("SeriesInstanceUID", "") or "") for image in images)
    if len(uids) > 1:
        listed = "; ".join(f"{uid or '(none)'} ({n} files)" for uid, n in uids.most_common())
        raise InvalidImage(f"the upload holds {len(uids)} series: {listed}; send one series per request")
