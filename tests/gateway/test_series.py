"""gateway/series.py: slice order, refusals, pixels; Enhanced (multi-frame) MR read like classic."""

from __future__ import annotations

import copy

import highdicom as hd
import numpy as np
import pytest

from gateway import results, series
from gateway.series import SeriesError
from tests.gateway.conftest import fixture_case, study


def _flair(seed="series"):
    return study(seed, ("flair",))["flair"]


def _enhanced(instances):
    return hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy_datasets=instances, series_instance_uid=hd.UID(), series_number=5, sop_instance_uid=hd.UID(),
        instance_number=1,
    )  # fmt: skip


def test_order_along_the_normal_whatever_the_file_order():
    instances = _flair()
    shuffled = [instances[i] for i in np.random.default_rng(0).permutation(len(instances))]
    geometry = series.geometry(shuffled)
    # ascending along the normal (foot to head): the reverse of the instance numbers here
    assert [int(f.dataset.InstanceNumber) for f in geometry.frames] == list(range(12, 0, -1))
    assert geometry.spacing_mm == pytest.approx((3.0, 1.0, 1.0))
    np.testing.assert_array_equal(series.pixels(geometry), fixture_case().images[::-1, :, :, 1])


def test_enhanced_mr_gives_the_same_grid_and_voxels_as_classic():
    instances = _flair("enhanced")
    classic = series.geometry(instances)
    enhanced = series.geometry([_enhanced(instances)])
    assert enhanced.same_grid(classic)
    np.testing.assert_array_equal(series.pixels(enhanced), series.pixels(classic))
    assert {f.number for f in enhanced.frames} == set(range(1, 13))


def test_seg_of_an_enhanced_source_references_its_frames():
    instances = _flair("enhanced-seg")
    enhanced = _enhanced(instances)
    geometry = series.geometry([enhanced])
    mask = np.zeros(geometry.shape, np.uint8)
    mask[4, 100:120, 100:130] = 1
    findings = results.Findings(
        mask, [0.5] * 12, "FLAIR only", results.Model("c", "1"), results.Model("s", "2")
    )
    seg = results.segmentation(geometry, findings, results.ResultUids.new())
    frames = hd.seg.Segmentation.from_dataset(seg).get_pixels_by_source_frame(
        str(enhanced.SOPInstanceUID),
        source_frame_numbers=[f.number for f in geometry.frames],
        segment_numbers=[1],
    )
    np.testing.assert_array_equal(frames[..., 0], mask)


@pytest.mark.parametrize(
    "change, reason",
    [
        (
            lambda s: s[5].__setattr__("ImageOrientationPatient", [1, 0, 0, 0, 0, -1]),
            "different orientations",
        ),
        (lambda s: s[5].__setattr__("PixelSpacing", [0.5, 0.5]), "different pixel spacing"),
        (lambda s: s[5].__setattr__("ImagePositionPatient", list(s[4].ImagePositionPatient)), "the same position"),
        (lambda s: s.pop(5), "a slice is missing"),
        (lambda s: s[2].__setattr__("Modality", "CT"), "Modality CT"),
        (lambda s: s[2].__setattr__("SeriesInstanceUID", "1.2.3"), "2 series"),
        (lambda s: s[0].__delattr__("ImagePositionPatient"), "no usable position"),
    ],
)
def test_refusals(change, reason):
    instances = copy.deepcopy(_flair("refusals"))
    if reason == "Modality CT":
        for ds in instances:
            ds.Modality = "CT"
    else:
        change(instances)
    with pytest.raises(SeriesError, match=reason):
        series.geometry(instances)


def test_truncated_pixel_data_is_refused_with_the_instance():
    instances = copy.deepcopy(_flair("truncated"))
    instances[3].PixelData = instances[3].PixelData[:1000]
    geometry = series.geometry(instances)
    with pytest.raises(SeriesError, match="instance 4: the pixel data cannot be decoded"):
        series.pixels(geometry)
