"""gateway/series.py on the fixture patient's real series: the shared DICOM layer's slice order,
refusals and voxels as the gateway meets them; Enhanced (multi-frame) MR read like classic; a series
whose SEG cannot be made refused before the service is asked."""

from __future__ import annotations

import copy

import highdicom as hd
import numpy as np
import pytest

from gateway import results, series
from imaging.dicom.errors import DicomError, SegError, SliceGap
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
    read = series.analysable(shuffled)
    # ascending along the normal (foot to head): the reverse of the instance numbers here
    numbers = [int(read.images[i].header.InstanceNumber) for i, _ in read.source_frames()]
    assert numbers == list(range(12, 0, -1))
    assert read.spacing_mm == pytest.approx((3.0, 1.0, 1.0))
    np.testing.assert_array_equal(read.pixels(), fixture_case().images[::-1, :, :, 1])


def test_enhanced_mr_gives_the_same_grid_and_voxels_as_classic():
    instances = _flair("enhanced")
    classic = series.analysable(instances)
    enhanced = series.analysable([_enhanced(instances)])
    assert enhanced.same_grid(classic)
    np.testing.assert_array_equal(enhanced.pixels(), classic.pixels())
    assert sorted(n for _, n in enhanced.source_frames()) == list(range(12))


def test_seg_of_an_enhanced_source_references_its_frames():
    instances = _flair("enhanced-seg")
    enhanced = _enhanced(instances)
    read = series.analysable([enhanced])
    mask = np.zeros(read.shape, np.uint8)
    mask[4, 100:120, 100:130] = 1
    findings = results.Findings(
        mask, [0.5] * 12, "FLAIR only", results.Model("c", "1"), results.Model("s", "2")
    )
    seg, _ = results.build(read, findings, results.ResultUids.new())
    frames = hd.seg.Segmentation.from_dataset(seg).get_pixels_by_source_frame(
        str(enhanced.SOPInstanceUID),
        source_frame_numbers=[n + 1 for _, n in read.source_frames()],
        segment_numbers=[1],
    )
    np.testing.assert_array_equal(frames[..., 0], mask)


def _set(index: int, keyword: str, value):
    return lambda s: setattr(s[index], keyword, value)


@pytest.mark.parametrize(
    ("change", "error", "reason"),
    [
        (
            _set(5, "ImageOrientationPatient", [1, 0, 0, 0, 0, -1]),
            DicomError,
            "different ImageOrientationPatient",
        ),
        (_set(5, "PixelSpacing", [0.5, 0.5]), DicomError, "different PixelSpacing"),
        (
            lambda s: s[5].__setattr__("ImagePositionPatient", list(s[4].ImagePositionPatient)),
            DicomError,
            "same position",
        ),
        (lambda s: s.pop(5), SliceGap, "a slice is missing"),
        (lambda s: [setattr(ds, "Modality", "CT") for ds in s], DicomError, "Modality is CT, not MR"),
        (_set(2, "SeriesInstanceUID", "1.2.3"), DicomError, "2 series"),
        (lambda s: s[0].__delattr__("ImagePositionPatient"), DicomError, "no usable ImagePositionPatient"),
        (lambda s: [delattr(ds, "PixelSpacing") for ds in s], SegError, "lacks PixelSpacing"),
        (lambda s: [delattr(ds, "FrameOfReferenceUID") for ds in s], SegError, "lacks FrameOfReferenceUID"),
    ],
    ids=[
        "orientation",
        "spacing",
        "duplicate",
        "gap",
        "ct",
        "two-series",
        "no-position",
        "no-spacing",
        "no-frame-of-reference",
    ],
)
def test_refusals_are_the_shared_layers(change, error, reason):
    instances = copy.deepcopy(_flair("refusals"))
    change(instances)
    with pytest.raises(error, match=reason):
        series.analysable(instances)


def test_truncated_pixel_data_is_refused_with_the_instance():
    instances = copy.deepcopy(_flair("truncated"))
    instances[3].PixelData = instances[3].PixelData[:1000]
    read = series.analysable(instances)
    with pytest.raises(DicomError, match="instance 4: the DICOM file is broken or truncated"):
        read.pixels()


def test_an_unreadable_file_is_refused_without_its_name(tmp_path):
    broken = tmp_path / "1.2.840.99.1.dcm"
    broken.write_bytes(b"not a DICOM file")
    with pytest.raises(DicomError, match="an instance of the series: the DICOM file is broken") as info:
        series.read([broken])
    assert "1.2.840.99.1" not in str(info.value)
