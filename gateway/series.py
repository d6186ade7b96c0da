"""One series' instances -> frames in slice order, their pixels, the voxel affine (pydicom only).

Classic single-frame MR instances give one frame each; an Enhanced (multi-frame) MR instance gives
its frames, each placed by its Per-frame (else Shared) Functional Groups. Frames are ordered by
``ImagePositionPatient`` along the slice normal, ascending (as ``POST /volume`` orders a series).
Refused with :class:`SeriesError` and a reason, before any pixel is decoded: several series, a
modality other than MR, frames of different size, orientation or pixel spacing ("mixed geometry"),
two frames at one position, a step more than 10% larger than the smallest (a missing slice); then a
frame whose pixel data cannot be decoded (a truncated instance). Pixels go through the modality LUT
(rescale) only; ``MONOCHROME1`` is inverted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

from imaging.dicom.errors import DicomError as SeriesGeometryError
from imaging.dicom.geometry import slice_step

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


class SeriesError(ValueError):
    """The series cannot be analysed (the message says why, without patient data)."""


class SeriesGap(SeriesError):
    """Slices are missing inside the series (a step larger than the others): it may be incomplete."""


@dataclass(frozen=True)
class Frame:
    """One 2-D image of a series: its instance, frame number (1-based; None for single-frame) and
    where it lies (LPS mm)."""

    dataset: pydicom.Dataset
    number: int | None
    rows: int
    columns: int
    orientation: tuple[float, ...]
    position: tuple[float, float, float]
    spacing: tuple[float, float]

    @property
    def label(self) -> str:
        instance = self.dataset.get("InstanceNumber", "?")
        return f"instance {instance}" + (f" frame {self.number}" if self.number else "")


def read(paths: Sequence[Path], pixels: bool = True) -> list[pydicom.Dataset]:
    """The files of a series (headers only with ``pixels=False``); SeriesError for unreadable ones."""
    out = []
    for path in paths:
        try:
            out.append(pydicom.dcmread(path, stop_before_pixels=not pixels))
        except Exception as exc:  # noqa: BLE001 - whatever pydicom raises on a broken file
            raise SeriesError(f"an instance cannot be read as DICOM ({type(exc).__name__})") from None
    return out


def frames_of(ds: pydicom.Dataset) -> list[Frame]:
    """The frames of one instance with their geometry; SeriesError when it is missing."""
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        count = int(ds.get("NumberOfFrames", 1) or 1)
        if "PerFrameFunctionalGroupsSequence" not in ds:
            if count != 1:
                raise SeriesError(
                    f"instance {ds.get('InstanceNumber', '?')}: {count} frames without functional groups"
                )
            return [
                Frame(
                    ds, None, rows, columns, _floats(ds.ImageOrientationPatient, 6),
                    _floats(ds.ImagePositionPatient, 3), _floats(ds.PixelSpacing, 2),
                )
            ]  # fmt: skip
        shared = ds.get("SharedFunctionalGroupsSequence", [pydicom.Dataset()])[0]
        frames = []
        for number, group in enumerate(ds.PerFrameFunctionalGroupsSequence, start=1):
            orientation = _group(group, shared, "PlaneOrientationSequence").ImageOrientationPatient
            position = _group(group, shared, "PlanePositionSequence").ImagePositionPatient
            spacing = _group(group, shared, "PixelMeasuresSequence").PixelSpacing
            frames.append(
                Frame(
                    ds,
                    number,
                    rows,
                    columns,
                    _floats(orientation, 6),
                    _floats(position, 3),
                    _floats(spacing, 2),
                )
            )
        return frames
    except SeriesError:
        raise
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        raise SeriesError(
            f"instance {ds.get('InstanceNumber', '?')}: no usable position, orientation or pixel spacing"
        ) from None


def _group(frame_group: pydicom.Dataset, shared: pydicom.Dataset, keyword: str) -> pydicom.Dataset:
    for source in (frame_group, shared):
        if keyword in source and len(source[keyword].value):
            return source[keyword].value[0]
    raise KeyError(keyword)


def _floats(values, n: int) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if len(out) != n or not np.all(np.isfinite(out)):
        raise ValueError(f"expected {n} finite numbers")
    return out


@dataclass(frozen=True)
class SeriesGeometry:
    """Frames in slice order, the affine of (slice, row, column) indices -> RAS mm, and the voxel
    size (slice step, row, column) in mm."""

    frames: list[Frame]
    affine: np.ndarray
    spacing_mm: tuple[float, float, float]

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.frames), self.frames[0].rows, self.frames[0].columns

    def same_grid(self, other: SeriesGeometry) -> bool:
        """True when ``other`` samples the same voxels (size, orientation, positions within 0.05 mm)."""
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=0.05))


def geometry(datasets: Sequence[pydicom.Dataset]) -> SeriesGeometry:
    """Check that the instances are one MR series on one regular grid, and order their frames."""
    if not datasets:
        raise SeriesError("the series has no instances")
    uids = {str(ds.get("SeriesInstanceUID", "")) for ds in datasets}
    if len(uids) != 1:
        raise SeriesError(f"the instances belong to {len(uids)} series")
    modality = str(datasets[0].get("Modality", "") or "")
    if modality != "MR":
        raise SeriesError(f"not a brain MR series: Modality {modality or '(none)'}")
    frames = [frame for ds in datasets for frame in frames_of(ds)]
    first = frames[0]
    for frame in frames[1:]:
        if (frame.rows, frame.columns) != (first.rows, first.columns):
            raise SeriesError(
                f"mixed geometry: {frame.label} is {frame.columns}x{frame.rows}, {first.label} {first.columns}x{first.rows}"
            )
        if not np.allclose(frame.orientation, first.orientation, atol=1e-3):
            raise SeriesError(f"mixed geometry: {frame.label} and {first.label} have different orientations")
        if not np.allclose(frame.spacing, first.spacing, atol=1e-4):
            raise SeriesError(f"mixed geometry: {frame.label} and {first.label} have different pixel spacing")
    column_dir, row_dir = np.array(first.orientation[:3]), np.array(first.orientation[3:])
    normal = np.cross(column_dir, row_dir)
    if not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-2):
        raise SeriesError("ImageOrientationPatient is not two unit, orthogonal vectors")
    distances = np.array([float(np.dot(frame.position, normal)) for frame in frames])
    order = np.argsort(distances, kind="stable")
    frames = [frames[i] for i in order]
    step = _step(distances[order], frames, datasets[0])
    row_mm, column_mm = first.spacing
    lps = np.eye(4)
    lps[:3, 0] = normal * step
    lps[:3, 1] = row_dir * row_mm
    lps[:3, 2] = column_dir * column_mm
    lps[:3, 3] = frames[0].position
    return SeriesGeometry(frames, _LPS_TO_RAS @ lps, (step, row_mm, column_mm))


def _step(distances: np.ndarray, frames: list[Frame], ds: pydicom.Dataset) -> float:
    if len(distances) < 2:
        for keyword in ("SpacingBetweenSlices", "SliceThickness"):
            value = ds.get(keyword)
            if value is not None and float(value) > 0:
                return float(value)
        raise SeriesError("a single slice of unknown thickness")
    try:
        return slice_step(distances, [f.label for f in frames])
    except SeriesGeometryError as exc:
        raise (SeriesGap if "a gap" in str(exc) else SeriesError)(f"mixed geometry: {exc}") from None


def pixels(geometry_: SeriesGeometry) -> np.ndarray:
    """``(slices, rows, columns)`` float32 modality values in slice order; SeriesError when a frame
    cannot be decoded (e.g. a truncated instance)."""
    decoded: dict[int, np.ndarray] = {}
    out = np.empty(geometry_.shape, np.float32)
    for k, frame in enumerate(geometry_.frames):
        ds = frame.dataset
        if id(ds) not in decoded:
            decoded[id(ds)] = _decode(ds, frame)
        array = decoded[id(ds)]
        out[k] = array[frame.number - 1] if frame.number else array
    return out


def _decode(ds: pydicom.Dataset, frame: Frame) -> np.ndarray:
    try:
        stored = ds.pixel_array
        values = np.asarray(apply_modality_lut(stored, ds), dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 - whatever the decoders raise on broken pixel data
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", None) or str(syntax or "unknown")
        raise SeriesError(
            f"{frame.label}: the pixel data cannot be decoded ({name}; {type(exc).__name__}): truncated or corrupt"
        ) from None
    expected = (
        (frame.rows, frame.columns)
        if frame.number is None
        else (int(ds.NumberOfFrames), frame.rows, frame.columns)
    )
    if values.shape != expected:
        raise SeriesError(f"{frame.label}: the pixel data does not match Rows/Columns")
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        values = -values
    return values
