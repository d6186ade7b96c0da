"""Geometry of a DICOM series: slice order along the normal, gaps and duplicates, the voxel affine.

DICOM patient coordinates are LPS+ mm. ``ImageOrientationPatient`` gives the direction in which
the column index grows (first three values) and the one in which the row index grows (last three);
``PixelSpacing`` is (between rows, between columns). Slices are ordered by the position of
``ImagePositionPatient`` along the normal (row direction x column direction), ascending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from contract.dicom import SeriesGeometryError, slice_step
from service.errors import InvalidImage

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class SliceGeometry:
    """What one instance says about where it lies; ``label`` names it in errors."""

    label: str
    orientation: np.ndarray  # (6,) ImageOrientationPatient
    position: np.ndarray  # (3,) ImagePositionPatient
    pixel_spacing: tuple[float, float] | None


@dataclass(frozen=True)
class SeriesGeometry:
    """``order``: indices of the slices, ascending along the normal; ``affine``: (slice, row,
    column) index -> RAS+ (mm; a size the series does not give is a unit vector, only to find the
    axes); ``spacing_mm``: (slice step, row, column) in mm, None without ``PixelSpacing`` or with a
    single slice of unknown thickness; ``warnings``: which of them is missing."""

    order: list[int]
    affine: np.ndarray
    spacing_mm: tuple[float, float, float] | None
    warnings: list[str]


NO_PIXEL_SPACING = "the series gives no PixelSpacing: spacing_mm and tumour_volume_ml are null"
NO_THICKNESS = (
    "a single slice without SpacingBetweenSlices or SliceThickness: spacing_mm and tumour_volume_ml are null"
)


def series_geometry(slices: Sequence[SliceGeometry], thickness: float | None) -> SeriesGeometry:
    """Order the slices and build the affine; 422 for mixed orientations, duplicates or gaps."""
    first = slices[0]
    for item in slices[1:]:
        if not np.allclose(item.orientation, first.orientation, atol=1e-3):
            raise InvalidImage(f"{item.label} and {first.label} have different ImageOrientationPatient")
        if item.pixel_spacing != first.pixel_spacing:
            raise InvalidImage(f"{item.label} and {first.label} have different PixelSpacing")
    column_dir, row_dir = first.orientation[:3], first.orientation[3:]
    normal = np.cross(column_dir, row_dir)
    if not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-2):
        raise InvalidImage(f"{first.label}: ImageOrientationPatient is not two unit, orthogonal vectors")
    distances = np.array([float(np.dot(item.position, normal)) for item in slices])
    order = [int(i) for i in np.argsort(distances, kind="stable")]
    step = _check_steps(distances[order], [slices[i].label for i in order])
    if step is None:
        step = thickness
    row_mm, column_mm = first.pixel_spacing or (1.0, 1.0)
    lps = np.eye(4)
    lps[:3, 0] = normal * (step or 1.0)
    lps[:3, 1] = row_dir * row_mm
    lps[:3, 2] = column_dir * column_mm
    lps[:3, 3] = slices[order[0]].position
    warnings = [NO_PIXEL_SPACING] if first.pixel_spacing is None else []
    if step is None:
        warnings.append(NO_THICKNESS)
    spacing = None if warnings else (float(step), float(row_mm), float(column_mm))
    return SeriesGeometry(order=order, affine=_LPS_TO_RAS @ lps, spacing_mm=spacing, warnings=warnings)


def _check_steps(distances: np.ndarray, labels: list[str]) -> float | None:
    """The series' slice step (median), after refusing duplicates and gaps (:func:`contract.dicom.slice_step`)."""
    if len(distances) < 2:
        return None
    try:
        return slice_step(distances, labels)
    except SeriesGeometryError as exc:
        raise InvalidImage(str(exc)) from None
