"""One DICOM series (several files, or a ``.zip`` of them) -> one volume, with pydicom.

Rules, in order, all before any pixel is decoded: at most ``max_slices`` files and ``max_bytes``
of pixel data; every file is DICOM with pixel data, ``Modality`` MR, one frame, the same
``SeriesInstanceUID`` (several series: 422 naming each with its file count), ``Rows``/``Columns``,
orientation and pixel spacing; slices are ordered along their normal and refused when two share a
position or a step is missing (:mod:`service.volumes.geometry`). Pixels then go through the
modality LUT only (``pydicom.pixels.apply_modality_lut``): display windows and VOI LUTs do not
reach the models. ``MONOCHROME1`` is inverted. The volume's axes are (slice, row, column).
"""

from __future__ import annotations

import io
import logging
import zipfile
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePosixPath

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

from service.errors import ImageError, InvalidImage, UnsupportedImage
from service.images.sniff import has_dicom_magic
from service.volumes.geometry import SliceGeometry, series_geometry
from service.volumes.volume import Volume, VolumeLimits

logger = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
_SKIPPED_NAMES = {"DICOMDIR"}


def unzip(data: bytes, limits: VolumeLimits) -> list[tuple[str, bytes]]:
    """The files of a zip (folders, ``DICOMDIR``, ``__MACOSX/`` and hidden files skipped), checked
    against the limits from the zip's directory before anything is extracted."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [
            info
            for info in archive.infolist()
            if not info.is_dir() and not _skipped(PurePosixPath(info.filename))
        ]
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InvalidImage(f"the zip file cannot be read ({exc})") from None
    limits.check_slices(len(members), "the zip file")
    limits.check_bytes(sum(info.file_size for info in members), "the zip file")
    files = []
    try:
        for info in members:
            with archive.open(info) as fh:
                content = fh.read(info.file_size + 1)
            if len(content) > info.file_size:  # a member larger than its directory entry says
                raise InvalidImage(f"zip member {info.filename} is larger than the zip directory declares")
            files.append((f"zip:{info.filename}", content))
    except ImageError:
        raise
    except Exception as exc:  # broken or encrypted members
        raise InvalidImage(f"the zip file cannot be extracted ({exc})") from None
    return files


def _skipped(path: PurePosixPath) -> bool:
    return path.name in _SKIPPED_NAMES or any(part.startswith((".", "__MACOSX")) for part in path.parts)


def read_series(files: Sequence[tuple[str, bytes]], limits: VolumeLimits) -> Volume:
    """Read the files of one series (``(label, bytes)``; labels name files in errors)."""
    limits.check_slices(len(files), "the series")
    datasets = [_read_header(label, data) for label, data in files]
    labels = [label for label, _ in files]
    _check_one_series(datasets, labels)
    rows, columns = int(datasets[0].Rows), int(datasets[0].Columns)
    for ds, label in zip(datasets, labels, strict=True):
        if (int(ds.Rows), int(ds.Columns)) != (rows, columns):
            raise InvalidImage(f"{label} is {ds.Columns}x{ds.Rows} pixels, {labels[0]} {columns}x{rows}")
    limits.check_slice_size(rows, columns)
    bits = max(int(ds.get("BitsAllocated", 16) or 16) for ds in datasets)
    limits.check_bytes(len(datasets) * rows * columns * max(1, bits // 8), "the series' pixel data")
    geometry = series_geometry(
        [_slice_geometry(ds, label) for ds, label in zip(datasets, labels, strict=True)],
        _thickness(datasets[0]),
    )
    ordered = [datasets[i] for i in geometry.order]
    data = np.stack([_pixels(ds, labels[i]) for i, ds in zip(geometry.order, ordered, strict=True)])
    return Volume(
        data=data, affine=geometry.affine, spacing_mm=geometry.spacing_mm, kind="dicom", datasets=ordered
    )


def _read_header(label: str, data: bytes) -> pydicom.Dataset:
    if not has_dicom_magic(data):
        raise UnsupportedImage(f"{label}: not a DICOM file (no 'DICM' marker)")
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        modality = str(ds.get("Modality", "") or "").upper()
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        has_pixels = "PixelData" in ds and "Rows" in ds and "Columns" in ds
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
    except Exception as exc:
        raise InvalidImage(f"{label}: the DICOM header cannot be read ({exc})") from None
    if modality and modality != "MR":
        raise InvalidImage(
            f"{label}: Modality is {modality}; the models were trained on MR (FLAIR) only and refuse other modalities"
        )
    if not has_pixels:
        raise InvalidImage(f"{label}: the DICOM file has no pixel data")
    if frames != 1:
        raise InvalidImage(f"{label}: {frames} frames; send a series of single-frame files")
    if samples != 1:
        raise InvalidImage(f"{label}: {samples} samples per pixel; an MR series is greyscale")
    return ds


def _check_one_series(datasets: list[pydicom.Dataset], labels: list[str]) -> None:
    uids = Counter(str(ds.get("SeriesInstanceUID", "") or "") for ds in datasets)
    if len(uids) > 1:
        listed = "; ".join(f"{uid or '(none)'} ({n} files)" for uid, n in uids.most_common())
        raise InvalidImage(f"the upload holds {len(uids)} series: {listed}; send one series per request")


def _slice_geometry(ds: pydicom.Dataset, label: str) -> SliceGeometry:
    try:
        orientation = np.array([float(v) for v in ds.ImageOrientationPatient], dtype=np.float64)
        position = np.array([float(v) for v in ds.ImagePositionPatient], dtype=np.float64)
    except (AttributeError, TypeError, ValueError):
        raise InvalidImage(
            f"{label}: no usable ImagePositionPatient/ImageOrientationPatient, so the slices cannot be ordered"
        ) from None
    if (
        orientation.shape != (6,)
        or position.shape != (3,)
        or not np.all(np.isfinite([*orientation, *position]))
    ):
        raise InvalidImage(f"{label}: ImagePositionPatient/ImageOrientationPatient are malformed")
    return SliceGeometry(
        label=label, orientation=orientation, position=position, pixel_spacing=_pixel_spacing(ds)
    )


def _pixel_spacing(ds: pydicom.Dataset) -> tuple[float, float] | None:
    try:
        row, column = (float(v) for v in ds.PixelSpacing)
    except (AttributeError, TypeError, ValueError):
        return None
    return (row, column) if row > 0 and column > 0 and np.isfinite(row * column) else None


def _thickness(ds: pydicom.Dataset) -> float | None:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = float(ds.get(keyword))
        except (TypeError, ValueError):
            continue
        if value > 0 and np.isfinite(value):
            return value
    return None


def _pixels(ds: pydicom.Dataset, label: str) -> np.ndarray:
    """Stored values -> modality values (float32); MONOCHROME1 inverted."""
    try:
        stored = ds.pixel_array
    except Exception as exc:
        meta = getattr(ds, "file_meta", None)
        syntax = meta.get("TransferSyntaxUID") if meta is not None else None
        name = getattr(syntax, "name", None) or str(syntax or "unknown")
        logger.info("%s: pixel decoding failed: %r", label, exc)
        raise UnsupportedImage(
            f"{label}: the pixel data cannot be decoded (transfer syntax {name})"
        ) from None
    if stored.shape != (int(ds.Rows), int(ds.Columns)):
        raise InvalidImage(f"{label}: the pixel data does not match its Rows/Columns")
    values = np.asarray(apply_modality_lut(stored, ds), dtype=np.float32)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        values = -values
    return values
