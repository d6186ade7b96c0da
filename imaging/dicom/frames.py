"""What each frame of a DICOM MR image says about where it lies and how its values scale.

Single-frame images (MR Image Storage) carry it in their own attributes: ``ImageOrientationPatient``,
``ImagePositionPatient``, ``PixelSpacing``, ``SpacingBetweenSlices``/``SliceThickness``,
``RescaleSlope``/``RescaleIntercept`` (or a Modality LUT Sequence). Multi-frame images (Enhanced MR
Image Storage and the Legacy Converted Enhanced MR that PACS make of older series) carry it per frame
in functional groups, each taken from the frame's item of ``PerFrameFunctionalGroupsSequence`` and
otherwise from ``SharedFunctionalGroupsSequence``: ``PlaneOrientationSequence``,
``PlanePositionSequence``, ``PixelMeasuresSequence`` (pixel spacing, slice spacing/thickness) and
``PixelValueTransformationSequence`` (rescale). Values that are missing or not numbers are None;
a frame without orientation or position is refused (its slice cannot be placed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from imaging.dicom.errors import DicomError
from imaging.dicom.geometry import SliceGeometry


@dataclass(frozen=True)
class Frame:
    """One frame: where it lies (``geometry``), the slice step or thickness it declares (None
    if none), its linear modality rescale (``slope``, ``intercept``; sign included for
    MONOCHROME1) and ``lut``: True when a Modality LUT Sequence maps its values instead."""

    geometry: SliceGeometry
    thickness: float | None
    slope: float
    intercept: float
    lut: bool


def frames_of(ds: Dataset, label: str) -> list[Frame]:
    """The frames of one image header (single- or multi-frame), in the order the file stores them."""
    sign = -1.0 if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1" else 1.0
    count = _int(ds.get("NumberOfFrames"), 1)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if count == 1 and per_frame is None:
        slope, intercept = _rescale(ds, label)
        geometry = _geometry(label, ds.get("ImageOrientationPatient"), ds.get("ImagePositionPatient"), ds)
        return [Frame(geometry, _thickness(ds), sign * slope, sign * intercept, "ModalityLUTSequence" in ds)]
    if per_frame is None or len(per_frame) != count:
        raise DicomError(
            f"{label}: a multi-frame image needs a PerFrameFunctionalGroupsSequence with one item per frame "
            f"({count} frames) to place its frames"
        )
    shared_items = ds.get("SharedFunctionalGroupsSequence") or [Dataset()]
    shared = shared_items[0]
    frames = []
    for index, item in enumerate(per_frame):
        name = f"{label} frame {index + 1}"
        measures = _group(item, shared, "PixelMeasuresSequence")
        orientation = _group(item, shared, "PlaneOrientationSequence")
        position = _group(item, shared, "PlanePositionSequence")
        transform = _group(item, shared, "PixelValueTransformationSequence")
        slope, intercept = _rescale(transform if transform is not None else ds, name)
        geometry = _geometry(
            name,
            orientation.get("ImageOrientationPatient") if orientation is not None else None,
            position.get("ImagePositionPatient") if position is not None else None,
            measures,
        )
        frames.append(Frame(geometry, _thickness(measures or ds), sign * slope, sign * intercept, False))
    return frames


def stored_dtype(headers: Sequence[Dataset], frames: Sequence[Frame]) -> np.dtype:
    """The stored values' dtype when every frame has the same positive linear rescale and the same
    encoding (the intensity window does not depend on such a map); else float32 modality values."""
    encodings = {
        (_int(ds.get("BitsAllocated"), 16), _int(ds.get("PixelRepresentation"), 0)) for ds in headers
    }
    rescales = {(f.slope, f.intercept, f.lut) for f in frames}
    if len(encodings) == 1 and len(rescales) == 1:
        (bits, signed), (slope, _, lut) = encodings.pop(), rescales.pop()
        if slope > 0 and not lut and bits in (8, 16, 32):
            return np.dtype(f"{'i' if signed else 'u'}{bits // 8}")
    return np.dtype(np.float32)


def modality_values(pixels: np.ndarray, frame: Frame, store: np.dtype, header: Dataset) -> np.ndarray:
    """One decoded frame in the volume's storage: as stored, or float32 modality values."""
    if store.kind != "f":
        return pixels
    if frame.lut:
        sign = np.float32(np.sign(frame.slope) or 1.0)
        return np.asarray(pydicom.pixels.apply_modality_lut(pixels, header), np.float32) * sign
    return pixels.astype(np.float32) * np.float32(frame.slope) + np.float32(frame.intercept)


def _group(item: Dataset, shared: Dataset, keyword: str) -> Dataset | None:
    """The first item of functional group ``keyword``: the frame's own, else the shared one."""
    for source in (item, shared):
        sequence = source.get(keyword)
        if sequence:
            return sequence[0]
    return None


def _geometry(label: str, orientation: object, position: object, measures: Dataset | None) -> SliceGeometry:
    try:
        iop = np.array([float(v) for v in orientation], dtype=np.float64)  # type: ignore[union-attr]
        ipp = np.array([float(v) for v in position], dtype=np.float64)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise DicomError(
            f"{label}: no usable ImagePositionPatient/ImageOrientationPatient, so the slices cannot be ordered"
        ) from None
    if iop.shape != (6,) or ipp.shape != (3,) or not np.all(np.isfinite([*iop, *ipp])):
        raise DicomError(f"{label}: ImagePositionPatient/ImageOrientationPatient are malformed")
    return SliceGeometry(label=label, orientation=iop, position=ipp, pixel_spacing=pixel_spacing(measures))


def pixel_spacing(ds: Dataset | None) -> tuple[float, float] | None:
    """``PixelSpacing`` (row, column) in mm, None when absent, not two numbers or not positive."""
    try:
        row, column = (float(v) for v in ds.PixelSpacing)  # type: ignore[union-attr]
    except (AttributeError, TypeError, ValueError):
        return None
    return (row, column) if row > 0 and column > 0 and np.isfinite(row * column) else None


def _thickness(ds: Dataset) -> float | None:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = float(ds.get(keyword))
        except (TypeError, ValueError):
            continue
        if value > 0 and np.isfinite(value):
            return value
    return None


def _rescale(ds: Dataset, label: str) -> tuple[float, float]:
    """(slope, intercept), (1, 0) where absent; a slope of 0 or a non-number is refused."""
    try:
        slope = _number(ds.get("RescaleSlope"), 1.0)  # a slope of 0 is a value, not an absence
        intercept = _number(ds.get("RescaleIntercept"), 0.0)
    except (TypeError, ValueError):
        slope, intercept = float("nan"), 0.0
    if not (np.isfinite(slope) and np.isfinite(intercept)) or slope == 0:
        raise DicomError(f"{label}: RescaleSlope/RescaleIntercept are not valid numbers (or the slope is 0)")
    return slope, intercept


def _number(value: object, default: float) -> float:
    return default if value is None or value == "" else float(value)  # type: ignore[arg-type]


def _int(value: object, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
