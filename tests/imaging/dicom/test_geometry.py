"""imaging.dicom.geometry: slice order, affine of a DICOM series, gaps and duplicates."""

from __future__ import annotations

import numpy as np
import pytest

from imaging.dicom.errors import DicomError, SliceGap
from imaging.dicom.geometry import NO_PIXEL_SPACING, NO_THICKNESS, SliceGeometry, series_geometry


def _oblique_series(positions_along_normal: list[float]) -> tuple[list[SliceGeometry], np.ndarray]:
    angle = np.deg2rad(20)
    column_dir = np.array([np.cos(angle), np.sin(angle), 0.0])
    row_dir = np.array([0.0, 0.0, -1.0])  # a coronal-ish oblique series
    normal = np.cross(column_dir, row_dir)
    origin = np.array([-90.0, 10.0, 60.0])
    slices = [
        SliceGeometry(f"files[{i}]", np.concatenate([column_dir, row_dir]), origin + d * normal, (0.5, 0.7))
        for i, d in enumerate(positions_along_normal)
    ]
    return slices, normal


def test_affine_maps_slice_row_column_to_patient_positions():
    slices, _ = _oblique_series([4.0, 0.0, 8.0, 2.0, 6.0])  # files out of order
    geometry = series_geometry(slices, thickness=None)
    assert geometry.order == [1, 3, 0, 4, 2]
    assert geometry.spacing_mm == pytest.approx((2.0, 0.5, 0.7))
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    for k, index in enumerate(geometry.order):
        item = slices[index]
        for r, c in ((0, 0), (3, 5)):
            expected = item.position + r * 0.5 * item.orientation[3:] + c * 0.7 * item.orientation[:3]
            got = geometry.affine @ np.array([k, r, c, 1.0])
            np.testing.assert_allclose(got[:3], lps_to_ras @ expected, atol=1e-9)


def test_duplicates_and_gaps_name_the_files():
    slices, _ = _oblique_series([0.0, 3.0, 3.0, 6.0])
    with pytest.raises(DicomError, match=r"duplicate slices: files\[1\] and files\[2\]") as duplicate:
        series_geometry(slices, None)
    assert not isinstance(duplicate.value, SliceGap), "a duplicate is no missing slice to wait for"
    slices, _ = _oblique_series([0.0, 3.0, 9.0, 12.0])
    with pytest.raises(SliceGap, match=r"a gap in the series: 6.00 mm between files\[1\] and files\[2\]"):
        series_geometry(slices, None)


def test_mixed_orientation_is_refused_and_one_slice_uses_its_thickness():
    slices, _ = _oblique_series([0.0, 3.0])
    turned = SliceGeometry("files[1]", np.array([1.0, 0, 0, 0, 1, 0]), slices[1].position, (0.5, 0.7))
    with pytest.raises(DicomError, match="different ImageOrientationPatient"):
        series_geometry([slices[0], turned], None)
    assert series_geometry(slices[:1], thickness=5.0).spacing_mm == pytest.approx((5.0, 0.5, 0.7))
    assert series_geometry(slices[:1], thickness=None).spacing_mm is None
    assert series_geometry(slices[:1], thickness=None).missing == [NO_THICKNESS]


def test_pixel_spacing_within_a_tenth_of_a_micron_is_one_spacing_and_a_missing_one_is_named():
    slices, _ = _oblique_series([0.0, 3.0, 6.0])
    nearly = SliceGeometry("files[2]", slices[2].orientation, slices[2].position, (0.50000004, 0.7))
    assert series_geometry([*slices[:2], nearly], None).spacing_mm == pytest.approx((3.0, 0.5, 0.7))
    other = SliceGeometry("files[2]", slices[2].orientation, slices[2].position, (0.5, 0.71))
    with pytest.raises(DicomError, match=r"files\[2\] and files\[0\] have different PixelSpacing"):
        series_geometry([*slices[:2], other], None)
    unknown = [SliceGeometry(s.label, s.orientation, s.position, None) for s in slices]
    geometry = series_geometry(unknown, None)
    assert geometry.spacing_mm is None and geometry.missing == [NO_PIXEL_SPACING]
    assert geometry.slice_step_mm == pytest.approx(3.0)  # the order and the step are still known
