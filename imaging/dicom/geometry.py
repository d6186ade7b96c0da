"""Geometry of a DICOM series: slice order along the normal, gaps and duplicates, the voxel affine.

DICOM patient coordinates are LPS+ mm. ``ImageOrientationPatient`` gives the direction in which
the column index grows (first three values) and the one in which the row index grows (last three);
``PixelSpacing`` is (between rows, between columns). Slices are ordered by the position of
``ImagePositionPatient`` along the normal (row direction x column direction), ascending. Every
slice must share the first one's orientation (within 0.001) and pixel spacing (within
:data:`SPACING_ATOL_MM`); two slices closer than :data:`DUPLICATE_MM` are one position (refused) and
a step more than :data:`SPACING_TOLERANCE` above the smallest is a missing slice (refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imaging.dicom.errors import DicomError, SliceGap

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: Slices closer than this along the normal (mm) are one position (a duplicate).
DUPLICATE_MM = 0.01
#: A step this much above the series' smallest step is a gap (a slice missing).
SPACING_TOLERANCE = 0.1
#: Pixel spacings closer than this (mm) are one spacing.
SPACING_ATOL_MM = 1e-4
#: What :attr:`SeriesGeometry.missing` names.
NO_PIXEL_SPACING = "the series gives no PixelSpacing"
NO_THICKNESS = "a single slice without SpacingBetweenSlices or SliceThickness"


@dataclass(frozen=True)
class SliceGeometry:
    """What one frame says about where it lies; ``label`` names it in errors."""

    label: str
    orientation: np.ndarray  # (6,) ImageOrientationPatient
    position: np.ndarray  # (3,) ImagePositionPatient
    pixel_spacing: tuple[float, float] | None


@dataclass(frozen=True)
class SeriesGeometry:
    """``order``: indices of the slices, ascending along the normal; ``affine``: (slice, row,
    column) index -> RAS+ (mm; a size the series does not give is a unit vector, only to find the
    axes); ``slice_step_mm``: the step between slices (a single slice: its declared thickness), None
    when unknown; ``spacing_mm``: (slice step, row, column) in mm, None when any of them is unknown;
    ``missing``: what the series does not give (:data:`NO_PIXEL_SPACING`, :data:`NO_THICKNESS`)."""

    order: list[int]
    affine: np.ndarray
    slice_step_mm: float | None
    spacing_mm: tuple[float, float, float] | None
    missing: list[str]


def series_geometry(slices: Sequence[SliceGeometry], thickness: float | None) -> SeriesGeometry:
    """Order the slices and build the affine (``thickness``: the declared slice step or thickness,
    used for a single slice); :class:`DicomError` for mixed orientations or spacings, duplicates or gaps
    (:class:`SliceGap`)."""
    first = slices[0]
    for item in slices[1:]:
        if not np.allclose(item.orientation, first.orientation, atol=1e-3):
            raise DicomError(f"{item.label} and {first.label} have different ImageOrientationPatient")
        if not _same_spacing(item.pixel_spacing, first.pixel_spacing):
            raise DicomError(f"{item.label} and {first.label} have different PixelSpacing")
    column_dir, row_dir = first.orientation[:3], first.orientation[3:]
    normal = np.cross(column_dir, row_dir)
    if not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-2):
        raise DicomError(f"{first.label}: ImageOrientationPatient is not two unit, orthogonal vectors")
    distances = np.array([float(np.dot(item.position, normal)) for item in slices])
    order = [int(i) for i in np.argsort(distances, kind="stable")]
    step = slice_step(distances[order], [slices[i].label for i in order]) if len(slices) > 1 else thickness
    row_mm, column_mm = first.pixel_spacing or (1.0, 1.0)
    lps = np.eye(4)
    lps[:3, 0] = normal * (step or 1.0)
    lps[:3, 1] = row_dir * row_mm
    lps[:3, 2] = column_dir * column_mm
    lps[:3, 3] = slices[order[0]].position
    missing = [NO_PIXEL_SPACING] if first.pixel_spacing is None else []
    if step is None:
        missing.append(NO_THICKNESS)
    spacing = None if missing else (float(step), float(row_mm), float(column_mm))  # type: ignore[arg-type]
    return SeriesGeometry(order, _LPS_TO_RAS @ lps, step, spacing, missing)


def slice_step(distances: np.ndarray, labels: Sequence[str]) -> float:
    """The median step (mm) between consecutive ``distances`` (ascending, one per slice, ``labels``
    naming them); :class:`DicomError` for two slices at one position, :class:`SliceGap` for a gap."""
    steps = np.diff(np.asarray(distances, float))
    for i, gap in enumerate(steps):
        if gap < DUPLICATE_MM:
            raise DicomError(
                f"duplicate slices: {labels[i]} and {labels[i + 1]} are at the same position "
                f"({distances[i]:.2f} mm along the slice normal)"
            )
    smallest = float(steps.min())
    for i, gap in enumerate(steps):
        if gap > smallest * (1 + SPACING_TOLERANCE):
            raise SliceGap(
                f"a gap in the series: {gap:.2f} mm between {labels[i]} and {labels[i + 1]} "
                f"(at {distances[i]:.2f} and {distances[i + 1]:.2f} mm) where the series steps "
                f"{smallest:.2f} mm; a slice is missing or the files are not one series"
            )
    return float(np.median(steps))


def _same_spacing(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(np.allclose(a, b, rtol=0.0, atol=SPACING_ATOL_MM))
