"""service.volumes.dicom_series: Enhanced (multi-frame) MR read frame by frame from its functional
groups, files beside a series skipped and counted, and the header pass before any pixel."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest

from service.errors import InvalidImage, UnsupportedImage
from service.volumes import VolumeLimits, open_volume, read_volume
from tests.service import volume_samples as vs

LIMITS = VolumeLimits(max_slices=64, max_bytes=1 << 28, min_side=8, max_side=4096)


def _series(n: int = 6):
    slices, _ = vs.synthetic_volume(slices=n)
    return slices, vs.dicom_series(slices)


def test_single_frame_series_order_geometry_and_stored_values():
    slices, files = _series()
    volume = read_volume([(f"files[{i}]", f) for i, f in enumerate(files)], LIMITS)
    assert volume.data.dtype == np.uint16  # one positive rescale for all: the stored values are kept
    np.testing.assert_array_equal(volume.data[::-1], np.rint((slices * 10 + 100) / 2))  # foot to head
    assert volume.spacing_mm == pytest.approx((3.0, 0.8, 0.9))
    assert volume.warnings == [] and volume.skipped_files == 0


@pytest.mark.parametrize(
    ("enhanced_sop", "per_frame"),
    [(False, False), (True, False), (True, True)],
    ids=["legacy", "enhanced", "per-frame"],
)
def test_an_enhanced_mr_file_is_the_volume_of_its_series(enhanced_sop, per_frame):
    """Shared or per-frame functional groups give the same voxels, affine and spacing."""
    _, files = _series()
    reference = read_volume([(f"files[{i}]", f) for i, f in enumerate(files)], LIMITS)
    multi = vs.enhanced_mr(files, enhanced_sop=enhanced_sop, per_frame_measures=per_frame)
    header = pydicom.dcmread(io.BytesIO(multi), stop_before_pixels=True)
    assert int(header.NumberOfFrames) == len(files)
    assert ("PixelMeasuresSequence" in header.SharedFunctionalGroupsSequence[0]) is not per_frame
    volume = read_volume([("file", multi)], LIMITS)
    np.testing.assert_array_equal(volume.data, reference.data)
    np.testing.assert_allclose(volume.affine, reference.affine, atol=1e-6)
    assert volume.spacing_mm == pytest.approx(reference.spacing_mm)
    # slice k of the volume is the frame the SEG must reference for it
    order = np.asarray(volume.series.geometry.order)
    positions = [
        float(item.PlanePositionSequence[0].ImagePositionPatient[2])
        for item in header.PerFrameFunctionalGroupsSequence
    ]
    assert np.all(np.diff(np.asarray(positions)[order]) > 0)


def test_a_series_split_over_two_enhanced_files_is_one_volume():
    _, files = _series(8)
    reference = read_volume([(f"files[{i}]", f) for i, f in enumerate(files)], LIMITS)
    halves = [vs.enhanced_mr(files[:5]), vs.enhanced_mr(files[5:])]
    volume = read_volume([("files[0]", halves[1]), ("files[1]", halves[0])], LIMITS)
    np.testing.assert_array_equal(volume.data, reference.data)


def test_frames_without_positions_are_422_naming_the_frame():
    _, files = _series(3)
    ds = pydicom.dcmread(io.BytesIO(vs.enhanced_mr(files)))
    del ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence
    buffer = io.BytesIO()
    ds.save_as(buffer)
    with pytest.raises(InvalidImage, match="file frame 2: no usable ImagePositionPatient"):
        read_volume([("file", buffer.getvalue())], LIMITS)


def test_junk_files_dicomdir_and_non_image_objects_are_skipped_and_counted():
    _, files = _series(4)
    report = pydicom.Dataset()
    report.file_meta = pydicom.dataset.FileMetaDataset()
    report.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    report.file_meta.MediaStorageSOPClassUID = pydicom.uid.BasicTextSRStorage
    report.file_meta.MediaStorageSOPInstanceUID = report.SOPInstanceUID = pydicom.uid.generate_uid()
    report.SOPClassUID, report.Modality = pydicom.uid.BasicTextSRStorage, "SR"
    buffer = io.BytesIO()
    report.save_as(buffer, enforce_file_format=True)
    junk = {
        "README.TXT": b"exported by a PACS",
        "Thumbs.db": b"\xd0\xcf\x11\xe0" + b"\0" * 600,
        "notes.txt": b"",
        "DICOMDIR": b"x" * 200,
        "report.dcm": buffer.getvalue(),
    }
    archive = vs.zip_bytes(files, extra=junk)
    volume = read_volume([("file", archive)], LIMITS)
    assert volume.skipped_files == len(junk) and volume.data.shape[0] == 4
    uploads = [(f"files[{i}]", f) for i, f in enumerate([*files, b"hello", buffer.getvalue()])]
    assert read_volume(uploads, LIMITS).skipped_files == 2
    with pytest.raises(
        UnsupportedImage, match=r"none of the 2 files sent is a DICOM image \(2 without the DICM marker"
    ):
        read_volume([("files[0]", b"a"), ("files[1]", b"b")], LIMITS)
    with pytest.raises(InvalidImage, match=r"report\.dcm: the DICOM file has no pixel data"):
        read_volume([("zip:report.dcm", buffer.getvalue())], LIMITS)


def test_headers_are_read_and_sized_before_any_pixel_is_decoded():
    _, files = _series(5)
    pending = open_volume([(f"files[{i}]", f) for i, f in enumerate(files)], LIMITS)
    assert (pending.shape, pending.itemsize, pending.files, pending.kind) == ((5, 32, 32), 2, 5, "dicom")
    volume = pending.load(lambda: None)
    assert volume.data.shape == (5, 32, 32)


def test_mixed_rescales_become_float32_modality_values():
    _, files = _series(3)

    def rescale(ds, k):
        ds.RescaleSlope = 2 if k else 4  # one slice on another scale
        return ds

    changed = []
    for k, data in enumerate(files):
        buffer = io.BytesIO()
        rescale(pydicom.dcmread(io.BytesIO(data)), k).save_as(buffer)
        changed.append(buffer.getvalue())
    volume = read_volume([(f"files[{i}]", f) for i, f in enumerate(changed)], LIMITS)
    assert volume.data.dtype == np.float32
