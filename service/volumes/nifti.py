"""NIfTI-1 and NIfTI-2 single files (``.nii``, ``.nii.gz``) read with nibabel, header first.

Rules: a 3-D image is one sequence, taken as FLAIR; a 4-D image with 3 volumes on the last axis
is pre-contrast, FLAIR, post-contrast (a 4-D image with 1 volume is 3-D); anything else is 422.
The header's shape and data type are checked against the limits before the voxels are read, and a
gzip stream is decompressed only up to the limit. Intensities are read with the header's scaling
(``scl_slope``/``scl_inter``). The affine is nibabel's best (sform, else qform, else the pixdims);
the voxel size comes from the pixdims in the header's spatial unit (unknown unit: mm, as ITK and
3D Slicer read it).
"""

from __future__ import annotations

import io
import logging
import zlib

import nibabel as nib
import numpy as np

from contract.volume import AxialFrame
from service.errors import InvalidImage, UnsupportedImage
from service.volumes.volume import Volume, VolumeLimits, check_bytes

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
_HEADER_SIZES = {348: nib.Nifti1Image, 540: nib.Nifti2Image}
_UNIT_TO_MM = {"mm": 1.0, "unknown": 1.0, "meter": 1000.0, "micron": 0.001}


def looks_like_nifti(raw: bytes) -> bool:
    """True when ``raw`` (decompressed) starts with a NIfTI-1 or NIfTI-2 header size (either byte order)."""
    return _image_class(raw) is not None


def _image_class(raw: bytes) -> type[nib.Nifti1Image] | None:
    for order in ("little", "big"):
        cls = _HEADER_SIZES.get(int.from_bytes(raw[:4], order))
        if cls is not None:
            return cls
    return None


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzip stream (all members), refusing (413) more than ``limit`` bytes of output."""
    out = bytearray()
    rest = data
    try:
        while rest[:2] == GZIP_MAGIC:
            stream = zlib.decompressobj(wbits=31)
            out += stream.decompress(rest, limit + 1 - len(out))
            check_bytes(len(out), limit, "the gzip file")
            if not stream.eof:
                raise InvalidImage("the gzip file is truncated")
            rest = stream.unused_data
    except zlib.error as exc:
        raise InvalidImage(f"the gzip file is broken ({exc})") from None
    return bytes(out)


def read_nifti(raw: bytes, limits: VolumeLimits) -> Volume:
    """Read one decompressed NIfTI file (``raw``); 415 when it is not one, 422/413 for bad content."""
    cls = _image_class(raw)
    if cls is None:
        raise UnsupportedImage("not a NIfTI-1 or NIfTI-2 file")
    try:
        header = cls.header_class.from_fileobj(io.BytesIO(raw))
        shape = tuple(int(s) for s in header.get_data_shape())
        dtype = header.get_data_dtype()
        magic = bytes(header["magic"]).rstrip(b"\x00")
    except Exception as exc:  # nibabel raises several types on a broken header
        raise InvalidImage(f"the NIfTI header cannot be read ({exc})") from None
    if magic.startswith(b"ni"):
        raise UnsupportedImage(
            "NIfTI header/image pairs (.hdr/.img) are not supported; send one .nii or .nii.gz"
        )
    shape = _spatial_shape(shape)
    _check_geometry(header, shape, limits)
    n_bytes = int(np.prod(shape)) * dtype.itemsize
    limits.check_bytes(n_bytes, "the NIfTI image")
    if len(raw) < int(header["vox_offset"]) + n_bytes:
        raise InvalidImage("the NIfTI file is shorter than its header declares (truncated?)")
    try:
        image = cls.from_bytes(raw)
        affine = np.asarray(image.affine, dtype=np.float64)
        data = np.asanyarray(image.dataobj).reshape(shape)
    except Exception as exc:
        raise InvalidImage(f"the NIfTI voxels cannot be read ({exc})") from None
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise InvalidImage("the NIfTI affine is singular or not finite")
    if data.dtype.kind not in "uif" and data.dtype != np.bool_:
        raise InvalidImage(f"NIfTI data type {data.dtype} is not supported; send integer or float voxels")
    return Volume(data=data, affine=affine, spacing_mm=_spacing(header), kind="nifti", header=image.header)


def _check_geometry(header: nib.Nifti1Header, shape: tuple[int, ...], limits: VolumeLimits) -> None:
    """Slices and slice size from the header's affine, before any voxel is read."""
    try:
        frame = AxialFrame.of(header.get_best_affine(), shape)
        n_slices, slice_shape = frame.n_slices, frame.slice_shape
    except Exception as exc:
        raise InvalidImage(f"the NIfTI affine cannot be used ({exc})") from None
    limits.check_slices(n_slices)
    limits.check_slice_size(*slice_shape)


def _spatial_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """(X, Y, Z) or (X, Y, Z, 3); a 4-D image with one volume is 3-D; else 422."""
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) == 3 or (len(shape) == 4 and shape[3] == 3):
        return shape
    raise InvalidImage(
        f"NIfTI image of shape {list(shape)}: send a 3-D image (FLAIR) or a 4-D image with 3 volumes "
        "on the last axis (pre-contrast, FLAIR, post-contrast)"
    )


def _spacing(header: nib.Nifti1Header) -> tuple[float, float, float] | None:
    unit = header.get_xyzt_units()[0]
    zooms = np.asarray(header.get_zooms()[:3], dtype=np.float64) * _UNIT_TO_MM.get(unit, np.nan)
    if zooms.shape != (3,) or not np.all(np.isfinite(zooms)) or np.any(zooms <= 0):
        return None
    return float(zooms[0]), float(zooms[1]), float(zooms[2])
