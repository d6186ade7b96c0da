"""imaging.dicom.series: one series read alike from whole datasets (the gateway's way) and from
headers with a decoder over the files (the service's way); the policy's refusals and tolerances."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.pixels import iter_pixels

from imaging.dicom.errors import DicomError, UnsupportedDicom
from imaging.dicom.geometry import NO_PIXEL_SPACING
from imaging.dicom.series import read_series
from tests.service import volume_samples as vs


def _files(n: int = 6) -> tuple[np.ndarray, list[bytes]]:
    slices, _ = vs.synthetic_volume(slices=n)
    return slices, vs.dicom_series(slices)


def _datasets(files: list[bytes], pixels: bool = True) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(io.BytesIO(f), stop_before_pixels=not pixels) for f in files]


def test_datasets_and_headers_with_a_file_decoder_give_the_same_series_and_voxels():
    slices, files = _files()
    whole = read_series(_datasets(files))
    headers = read_series(_datasets(files[::-1], pixels=False), [f"files[{i}]" for i in range(len(files))])
    from_files = headers.pixels(lambda i: iter_pixels(io.BytesIO(files[::-1][i])))
    np.testing.assert_array_equal(whole.pixels(), from_files)
    np.testing.assert_allclose(whole.affine, headers.affine)
    assert whole.dtype == np.uint16 and whole.spacing_mm == pytest.approx((3.0, 0.8, 0.9))
    # ascending along the normal: foot to head, the reverse of the head-to-foot samples
    np.testing.assert_array_equal(from_files[::-1], np.rint((slices * 10 + 100) / 2))
    instance = [int(headers.datasets[i].InstanceNumber) for i, _ in headers.source_frames()]
    assert instance == list(range(len(files), 0, -1))


def test_an_enhanced_mr_object_is_the_same_grid_and_voxels_as_its_single_frames():
    _, files = _files()
    classic = read_series(_datasets(files))
    enhanced = read_series([pydicom.dcmread(io.BytesIO(vs.enhanced_mr(files)))])
    assert enhanced.same_grid(classic) and len(enhanced.images) == 1
    np.testing.assert_array_equal(enhanced.pixels(), classic.pixels())


def test_a_series_without_pixel_spacing_is_read_and_says_so():
    _, files = _files(3)
    series = read_series(_datasets(vs.edit_series(files, lambda ds: delattr(ds, "PixelSpacing"))))
    assert series.spacing_mm is None and series.geometry.missing == [NO_PIXEL_SPACING]
    assert series.pixels().shape == (3, 32, 32)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (
            lambda ds: setattr(ds, "Modality", "CT"),
            DicomError,
            r"instance \d+: the DICOM Modality is CT, not MR",
        ),
        (lambda ds: setattr(ds, "BitsAllocated", 12), DicomError, "12 bits allocated"),
        (lambda ds: delattr(ds, "ImagePositionPatient"), DicomError, "no usable ImagePositionPatient"),
        (lambda ds: setattr(ds, "RescaleSlope", 0), DicomError, "the slope is 0"),
        (
            lambda ds: setattr(ds.file_meta, "TransferSyntaxUID", "1.2.840.10008.1.2.4.100"),
            UnsupportedDicom,
            "MPEG2",
        ),
    ],
)
def test_images_the_policy_refuses_are_named(change, error, message):
    _, files = _files(3)
    datasets = _datasets(files, pixels=False)
    change(datasets[1])
    with pytest.raises(error, match=message):
        read_series(datasets)


def test_two_series_and_a_missing_slice_are_refused():
    _, files = _files(5)
    other = vs.dicom_series(vs.synthetic_volume(slices=1)[0])
    with pytest.raises(DicomError, match="holds 2 series"):
        read_series(_datasets([*files, *other]))
    by_position = sorted(_datasets(files), key=lambda ds: float(ds.ImagePositionPatient[2]))
    with pytest.raises(DicomError, match="a gap in the series"):
        read_series([*by_position[:2], *by_position[3:]])


def test_a_truncated_image_is_refused_when_its_pixels_are_read():
    _, files = _files(3)
    series = read_series(_datasets(files, pixels=False), ["a", "b", "c"])
    with pytest.raises(DicomError, match="b: the DICOM file is broken or truncated"):
        series.pixels(lambda i: iter_pixels(io.BytesIO(files[i][: -500 if i == 1 else None])))


def test_a_decoder_giving_other_frames_than_the_header_declares_is_refused():
    _, files = _files(2)
    series = read_series(_datasets(files, pixels=False), ["a", "b"])
    frame = np.zeros((32, 32), np.uint16)
    with pytest.raises(DicomError, match="a: the DICOM file is broken"):
        series.pixels(lambda i: [frame, frame])  # two frames where the header declares one
    with pytest.raises(DicomError, match="a: the DICOM pixel data does not match its Rows/Columns"):
        series.pixels(lambda i: [np.zeros((8, 8), np.uint16)])
