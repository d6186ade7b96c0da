"""service.volumes.nifti: geometry only from what the header says, hostile headers, voxels streamed
into one array of the stored type."""

from __future__ import annotations

import struct

import nibabel as nib
import numpy as np
import pytest

from service.errors import InvalidImage, UnsupportedImage
from service.volumes import VolumeLimits, open_volume, read_volume
from service.volumes.nifti import NO_ORIENTATION
from tests.service import volume_samples as vs

LIMITS = VolumeLimits(max_slices=512, max_bytes=1 << 30, min_side=8, max_side=4096)
#: Byte offsets in a NIfTI-1 header.
PIXDIM, VOX_OFFSET, SCL_SLOPE, XYZT_UNITS, QFORM_CODE, SFORM_CODE, DATATYPE = 76, 108, 112, 123, 252, 254, 70


def _bytes(
    fields: dict | None = None, data: np.ndarray | None = None, affine: np.ndarray | None = None
) -> bytes:
    """A NIfTI-1 file with ``fields`` (``{byte offset: (struct format, value)}``) written over its header."""
    image = nib.Nifti1Image(
        data if data is not None else np.arange(16 * 16 * 4, dtype=np.int16).reshape(16, 16, 4),
        np.diag([0.9, 0.8, 3.0, 1.0]) if affine is None else affine,
    )
    image.header.set_xyzt_units("mm")
    raw = bytearray(image.to_bytes())
    for offset, (fmt, value) in (fields or {}).items():
        struct.pack_into(fmt, raw, offset, *np.atleast_1d(value))
    return bytes(raw)


def _read(raw: bytes):
    return read_volume([("file", raw)], LIMITS)


def test_zero_pixdim_without_sform_or_qform_gives_no_spacing_and_says_why():
    raw = _bytes({PIXDIM + 4: ("<3f", [0, 0, 0]), QFORM_CODE: ("<h", 0), SFORM_CODE: ("<h", 0)})
    volume = _read(raw)
    assert volume.spacing_mm is None and volume.voxel_ml is None
    assert NO_ORIENTATION in volume.warnings
    assert any("no voxel size" in w and "pixdim is 0" in w for w in volume.warnings)
    assert abs(np.linalg.det(volume.affine[:3, :3])) == pytest.approx(1.0)  # unit axes, not a size


def test_a_qform_with_zero_pixdims_keeps_its_orientation_but_no_spacing():
    raw = _bytes(affine=np.diag([-1.0, -1.0, 3.0, 1.0]))
    image = nib.Nifti1Image.from_bytes(raw)
    image.set_qform(np.diag([-1.0, -1.0, 3.0, 1.0]), code=1)
    image.set_sform(None, code=0)
    raw = bytearray(image.to_bytes())
    struct.pack_into("<3f", raw, PIXDIM + 4, 0, 0, 0)
    volume = _read(bytes(raw))
    assert volume.spacing_mm is None and NO_ORIENTATION not in volume.warnings
    assert np.sign(np.diag(volume.affine)[:3]).tolist() == [-1.0, -1.0, 1.0]  # LPS from the quaternion


def test_an_sform_gives_the_spacing_when_the_pixdims_are_zero():
    raw = _bytes({PIXDIM + 4: ("<3f", [0, 0, 0])})
    volume = _read(raw)
    assert volume.spacing_mm == pytest.approx((0.9, 0.8, 3.0))
    assert volume.warnings == []


def test_units_are_read_and_an_unknown_spatial_unit_gives_no_spacing():
    metres = _bytes({XYZT_UNITS: ("<B", 1)})  # NIFTI_UNITS_METER
    assert _read(metres).spacing_mm == pytest.approx((900.0, 800.0, 3000.0))
    assert _read(_bytes({XYZT_UNITS: ("<B", 8)})).spacing_mm is not None  # seconds only: mm
    volume = _read(_bytes({XYZT_UNITS: ("<B", 5)}))  # no NIfTI unit has code 5
    assert volume.spacing_mm is None and any("spatial unit" in w for w in volume.warnings)


@pytest.mark.parametrize("offset", [float("nan"), float("inf"), -352.0, 100.0, 1e12, 352.5])
def test_a_vox_offset_that_is_not_a_byte_offset_is_422(offset):
    with pytest.raises(InvalidImage, match="vox_offset"):
        _read(_bytes({VOX_OFFSET: ("<f", offset)}))


def test_broken_shapes_types_and_magic_are_4xx_before_any_voxel():
    with pytest.raises(InvalidImage, match="at least 1"):
        _read(_bytes({42: ("<h", -4)}))  # dim[1]
    with pytest.raises(InvalidImage, match=r"header cannot be read|data type"):
        _read(_bytes({DATATYPE: ("<h", 77)}))  # no such datatype code
    with pytest.raises(UnsupportedImage, match=r"\.hdr/\.img"):
        _read(_bytes({344: ("<4s", b"ni1\0")}))
    with pytest.raises(InvalidImage, match="magic"):
        _read(_bytes({344: ("<4s", b"XYZ\0")}))
    with pytest.raises(InvalidImage, match="shorter than its header"):
        _read(_bytes()[:1000])


def test_big_endian_scaled_and_float64_files_give_the_windowed_values_of_the_plain_file():
    slices, _ = vs.synthetic_volume()
    plain = _read(vs.nifti_bytes(slices.astype(np.int16), gz=True))
    little = vs.nifti_image(slices.astype(np.int16))
    big = nib.Nifti1Image(
        np.asanyarray(little.dataobj).astype(">i2"), little.affine, header=nib.Nifti1Header(endianness=">")
    )
    big_raw = big.to_bytes()
    assert big_raw[:4] == (348).to_bytes(4, "big")
    np.testing.assert_array_equal(_read(big_raw).data, plain.data)

    scaled = vs.nifti_image(slices.astype(np.int16))
    scaled.header.set_slope_inter(2.0, -7.0)
    pending = open_volume([("file", scaled.to_bytes())], LIMITS)
    assert pending.itemsize == 2  # a positive slope keeps the stored int16 (the window ignores it)
    inverted = vs.nifti_image(slices.astype(np.int16))
    inverted.header.set_slope_inter(-1.0, 0.0)
    volume = _read(inverted.to_bytes())
    assert volume.data.dtype == np.float32 and volume.data.min() == -slices.max()
    doubles = _read(vs.nifti_bytes(slices.astype(np.float64)))
    assert doubles.data.dtype == np.float32
    np.testing.assert_array_equal(doubles.data, plain.data.astype(np.float32))


def test_declared_size_is_refused_from_the_header_of_a_gzip_bomb():
    header = nib.Nifti1Header()
    header.set_data_shape((2048, 2048, 400))
    header.set_data_dtype(np.uint8)
    header["vox_offset"] = 352
    bomb = vs.gzip.compress(header.binaryblock + b"\0" * 4 + b"\0" * 1000)
    small = VolumeLimits(max_slices=512, max_bytes=256 << 20, min_side=8, max_side=4096)
    with pytest.raises(Exception, match="limit is 268435456 bytes"):
        open_volume([("file", bomb)], small)
