"""imaging.dicom.seg: one SEG for one series and mask, whoever reads the series (files in any order,
headers only or whole datasets), with one frame per source frame and the policy's refusals."""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pydicom
import pytest

from imaging.dicom.errors import SegError
from imaging.dicom.seg import (
    MANUFACTURER,
    SERIES_NUMBER,
    SegUids,
    check_source,
    segmentation,
    segmentation_bytes,
)
from imaging.dicom.series import read_series
from tests.imaging.dicom.seg_samples import comparable
from tests.service import volume_samples as vs


def _case(n: int = 8):
    slices, tumour = vs.synthetic_volume(slices=n)
    return vs.dicom_series(slices), tumour[::-1].astype(np.uint8)  # the mask in slice order (foot to head)


def _read(files, pixels=True):
    return [pydicom.dcmread(io.BytesIO(f), stop_before_pixels=not pixels) for f in files]


def test_the_same_series_and_mask_give_the_same_seg_whoever_reads_the_series():
    files, mask = _case()
    whole = _read(files)
    a = segmentation(read_series(whole), mask, "segmenter", "2")
    b = segmentation(read_series(_read(files[::-1], pixels=False)), mask, "segmenter", "2")
    assert a.SOPInstanceUID != b.SOPInstanceUID
    assert comparable(a, whole) == comparable(b, whole)
    uids = SegUids.new()  # UIDs chosen once (a gateway job): the same instance again
    again = [segmentation_bytes(read_series(whole), mask, "segmenter", "2", uids) for _ in range(2)]
    assert pydicom.dcmread(io.BytesIO(again[0])).SOPInstanceUID == uids.instance
    assert comparable(pydicom.dcmread(io.BytesIO(again[0])), whole) == comparable(
        pydicom.dcmread(io.BytesIO(again[1])), whole
    )


def test_one_frame_per_source_image_empty_ones_included_each_on_its_slice():
    files, mask = _case()
    series = read_series(_read(files))
    seg = segmentation(series, mask, "segmenter", "2")
    assert int(seg.NumberOfFrames) == len(files) > int(mask.any(axis=(1, 2)).sum())
    assert (seg.Manufacturer, int(seg.SeriesNumber)) == (MANUFACTURER, SERIES_NUMBER)
    slice_of = {str(series.datasets[i].SOPInstanceUID): k for k, (i, _) in enumerate(series.source_frames())}
    referenced = [
        str(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        for item in seg.PerFrameFunctionalGroupsSequence
    ]
    assert sorted(referenced) == sorted(slice_of)
    frames = hd.seg.Segmentation.from_dataset(seg).get_pixels_by_source_instance(
        referenced, segment_numbers=[1]
    )
    np.testing.assert_array_equal(frames[..., 0], mask[[slice_of[uid] for uid in referenced]])


def test_an_enhanced_source_gets_its_frames_referenced_in_its_order():
    files, mask = _case(6)
    source = pydicom.dcmread(io.BytesIO(vs.enhanced_mr(files)))
    series = read_series([source])
    seg = hd.seg.Segmentation.from_dataset(segmentation(series, mask, "segmenter", "2"))
    numbers = [n + 1 for _, n in series.source_frames()]
    frames = seg.get_pixels_by_source_frame(
        str(source.SOPInstanceUID), source_frame_numbers=numbers, segment_numbers=[1]
    )[..., 0]
    np.testing.assert_array_equal(frames, mask)


def test_a_missing_slice_thickness_takes_the_step_on_a_copy_and_a_missing_spacing_is_refused():
    files, mask = _case(4)
    thin = _read(vs.edit_series(files, lambda ds: delattr(ds, "SliceThickness")))
    seg = segmentation(read_series(thin), mask, "segmenter", "2")
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert float(measures.SliceThickness) == pytest.approx(3.0)
    assert not any("SliceThickness" in ds for ds in thin)  # the caller's datasets are unchanged
    flat = _read(vs.edit_series(files, lambda ds: delattr(ds, "PixelSpacing")))
    anonymous = _read(vs.edit_series(files, lambda ds: delattr(ds, "StudyInstanceUID")))
    for datasets, lacks in ((flat, "PixelSpacing"), (anonymous, "StudyInstanceUID")):
        with pytest.raises(SegError, match=f"lacks {lacks}"):
            segmentation(read_series(datasets), mask, "segmenter", "2")
        with pytest.raises(SegError, match=f"lacks {lacks}"):  # known before any mask is made
            check_source(read_series(datasets))
    check_source(read_series(thin))


def test_a_series_of_several_multi_frame_images_is_refused():
    files, mask = _case(8)
    halves = [pydicom.dcmread(io.BytesIO(vs.enhanced_mr(part))) for part in (files[:4], files[4:])]
    with pytest.raises(SegError, match="one multi-frame image; the series has 2 images"):
        segmentation(read_series(halves), mask, "segmenter", "2")
