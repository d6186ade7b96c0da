"""NIfTI-1 and NIfTI-2 single files (``.nii``, ``.nii.gz``): header first, voxels streamed into place.

Rules: a 3-D image is one sequence, taken as FLAIR; a 4-D image with 3 volumes on the last axis
is pre-contrast, FLAIR, post-contrast (a 4-D image with 1 volume is 3-D); anything else is 422.
The header is read as the file says it (nibabel, without its fixes: a zero ``pixdim`` stays zero)
and checked before any voxel is read: shape, data type, ``vox_offset`` and the limits. Voxels are
then read from the (gzip-)stream straight into one array, never a second copy (see
:class:`service.volumes.volume.Volume` for when the stored values are kept and when they become
float32 with ``scl_slope``/``scl_inter``).

Geometry, from what the header says and nothing else (:func:`nifti_geometry`): the sform when
``sform_code`` > 0 (singular or not finite: 422), else the qform when ``qform_code`` > 0, else no
orientation is given and the voxel axes are read as NIfTI's default (a warning says so). The voxel
size is the pixdims in the header's spatial unit (unknown unit: mm, as ITK and 3D Slicer read it),
else the sform's column lengths; when the file gives none, ``spacing_mm`` and the tumour volume are
null and a warning says why (never an invented 1 mm).
"""

from __future__ import annotations

import io
import logging
from typing import BinaryIO

import nibabel as nib
import numpy as np

from contract.volume import AxialFrame
from service.errors import InvalidImage, UnsupportedImage
from service.volumes.inflate import read_exactly
from service.volumes.volume import CheckStop, PendingVolume, Volume, VolumeLimits

logger = logging.getLogger(__name__)

_HEADER_SIZES = {348: nib.Nifti1Header, 540: nib.Nifti2Header}
_UNIT_TO_MM = {"mm": 1.0, "unknown": 1.0, "meter": 1000.0, "micron": 0.001}
#: Most bytes between the header and the voxels (NIfTI extensions).
MAX_EXTENSION_BYTES = 1 << 20
#: Largest voxel side and farthest origin (mm) a header may give: past them it is broken (a voxel
#: larger than any scanner; numbers whose squares overflow).
MAX_VOXEL_MM = 10_000.0
MAX_ORIGIN_MM = 1e6
_CHUNK_VALUES = 1 << 20
NO_SPACING = "the file gives no voxel size ({why}): spacing_mm and tumour_volume_ml are null"
NO_ORIENTATION = (
    "the file gives no orientation (qform_code and sform_code are 0): its voxel axes were read as "
    "NIfTI's default (i toward the patient's left, j anterior, k superior)"
)


def header_class(first: bytes) -> type[nib.Nifti1Header] | None:
    """The header class when ``first`` (4 bytes or more) starts a NIfTI-1 or NIfTI-2 file."""
    for order in ("little", "big"):
        cls = _HEADER_SIZES.get(int.from_bytes(first[:4], order))
        if cls is not None:
            return cls
    return None


def open_nifti(stream: BinaryIO, limits: VolumeLimits) -> PendingVolume:
    """Read and check the header of the NIfTI file ``stream`` (decompressed, at its start)."""
    first = read_exactly(stream, 4)
    cls = header_class(first)
    if cls is None:
        raise UnsupportedImage("not a NIfTI-1 or NIfTI-2 file")
    size = 348 if cls is nib.Nifti1Header else 540
    raw = first + read_exactly(stream, size - 4)
    if len(raw) < size:
        raise InvalidImage("the NIfTI file is shorter than its header (truncated?)")
    try:
        header = cls.from_fileobj(io.BytesIO(raw), check=False)
        shape = tuple(int(s) for s in header.get_data_shape())
        dtype = header.get_data_dtype()
        magic = bytes(header["magic"]).rstrip(b"\x00")
        offset = float(header["vox_offset"])
        slope_inter = header.get_slope_inter()
    except Exception as exc:
        logger.debug("NIfTI header not readable: %r", exc)
        raise InvalidImage(
            "the NIfTI header cannot be read (broken dimensions, data type or scaling)"
        ) from None
    if magic[:2] == b"ni":
        raise UnsupportedImage(
            "NIfTI header/image pairs (.hdr/.img) are not supported; send one .nii or .nii.gz"
        )
    if magic[:2] != b"n+":
        raise InvalidImage("the NIfTI header is broken (its magic string is not 'n+1' or 'n+2')")
    if min(shape, default=0) < 1:
        raise InvalidImage(f"the NIfTI header declares dimensions {list(shape)}; each must be at least 1")
    shape = _spatial_shape(shape)
    start = _voxel_offset(offset, size)
    if dtype.kind not in "uifb" or dtype.itemsize > 8:
        raise InvalidImage(f"NIfTI data type {dtype} is not supported; send integer or float voxels")
    affine, spacing, warnings = nifti_geometry(header)
    frame = AxialFrame.of(affine, shape)
    limits.check_slices(frame.n_slices)
    limits.check_slice_size(*frame.slice_shape)
    n_values = int(np.prod(shape, dtype=np.int64))
    limits.check_bytes(n_values * dtype.itemsize, "the NIfTI image")
    store = _stored_dtype(dtype, slope_inter)
    volume = Volume(
        data=None, affine=affine, spacing_mm=spacing, kind="nifti", header=header, warnings=warnings
    )

    def load(check_stop: CheckStop) -> Volume:
        _skip(stream, start - size)
        volume.data = _read_voxels(stream, shape, dtype, store, slope_inter, check_stop)
        return volume

    return PendingVolume(
        shape=shape[:3],
        channels=shape[3] if len(shape) == 4 else 1,
        itemsize=store.itemsize,
        slice_shape=frame.slice_shape,
        files=1,
        header_bytes=size,
        kind="nifti",
        load=load,
    )


def nifti_geometry(
    header: nib.Nifti1Header,
) -> tuple[np.ndarray, tuple[float, float, float] | None, list[str]]:
    """The affine (voxel -> RAS+), the voxel size in mm (or None) and the warnings (module docstring)."""
    warnings: list[str] = []
    try:
        unit = str(header.get_xyzt_units()[0])
    except KeyError:  # a code that is no NIfTI unit
        unit = f"code {int(header['xyzt_units']) & 7}"
    factor = _UNIT_TO_MM.get(unit)
    pixdims = np.asarray(header["pixdim"][1:4], dtype=np.float64)
    pixdims_known = bool(np.all(np.isfinite(pixdims)) and np.all(pixdims > 0))
    if pixdims_known:
        _check_scale(pixdims * (factor or 1.0), "pixdim")
    unit_pix = header.copy()
    unit_pix["pixdim"][1:4] = 1.0
    spacing: np.ndarray | None = pixdims * factor if pixdims_known and factor is not None else None
    if int(header["sform_code"]) > 0:
        affine = np.asarray(header.get_sform(), dtype=np.float64)
        if not np.all(np.isfinite(affine)):
            raise InvalidImage("the NIfTI affine (its sform, srow_x/y/z) is singular or not finite")
        _check_scale(np.abs(affine[:3, :3]).max(axis=0) * (factor or 1.0), "sform", affine[:3, 3])
        if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            raise InvalidImage("the NIfTI affine (its sform, srow_x/y/z) is singular or not finite")
        if spacing is None and factor is not None:
            spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0)) * factor
    else:
        if int(header["qform_code"]) <= 0:
            warnings.append(NO_ORIENTATION)
        source = header if pixdims_known else unit_pix
        try:
            affine = np.asarray(
                source.get_qform() if int(header["qform_code"]) > 0 else source.get_base_affine(), np.float64
            )
        except Exception:
            raise InvalidImage("the NIfTI qform (quaternion) is not valid") from None
        if not np.all(np.isfinite(affine)):
            raise InvalidImage("the NIfTI qform (quaternion) is not valid")
        _check_scale(np.abs(affine[:3, :3]).max(axis=0) * (factor or 1.0), "qform", affine[:3, 3])
        if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            raise InvalidImage("the NIfTI qform (quaternion) is not valid")
    if spacing is None:
        why = f"spatial unit {unit!r}" if factor is None else "pixdim is 0 or not a number"
        warnings.append(NO_SPACING.format(why=why))
        return affine, None, warnings
    return affine, (float(spacing[0]), float(spacing[1]), float(spacing[2])), warnings


def _check_scale(sides: np.ndarray, source: str, origin: np.ndarray | None = None) -> None:
    """422 when a voxel side (mm; from ``source``) is over :data:`MAX_VOXEL_MM` or the origin
    farther than :data:`MAX_ORIGIN_MM` (a header whose numbers would overflow the geometry)."""
    if np.any(sides > MAX_VOXEL_MM):
        shown = " x ".join(f"{s:.3g}" for s in sides)
        raise InvalidImage(
            f"the NIfTI {source} gives voxels of {shown} mm; the limit is {MAX_VOXEL_MM:g} mm per voxel side"
        )
    if origin is not None and np.any(np.abs(origin) > MAX_ORIGIN_MM):
        raise InvalidImage(
            f"the NIfTI {source} puts the first voxel {np.abs(origin).max():.3g} mm from the origin; "
            f"the limit is {MAX_ORIGIN_MM:g} mm"
        )


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


def _voxel_offset(offset: float, header_size: int) -> int:
    """Where the voxels start: ``vox_offset`` (0 read as right after the header and its 4 extension bytes)."""
    if not np.isfinite(offset) or offset != int(offset):
        raise InvalidImage("the NIfTI header's vox_offset is not a valid byte offset")
    start = int(offset) or header_size + 4
    if start < header_size + 4 or start > header_size + 4 + MAX_EXTENSION_BYTES:
        raise InvalidImage(
            f"the NIfTI header's vox_offset ({start}) must be from {header_size + 4} to "
            f"{header_size + 4 + MAX_EXTENSION_BYTES} (extensions of at most {MAX_EXTENSION_BYTES} bytes)"
        )
    return start


def _stored_dtype(dtype: np.dtype, slope_inter: tuple[float | None, float | None]) -> np.dtype:
    """Integers with no scaling or a positive slope keep their values (the window does not depend on
    a positive linear map); anything else becomes float32 modality values."""
    slope, inter = slope_inter
    unscaled = slope is None or (slope == 1.0 and inter == 0.0)
    if dtype.kind in "uib" and (unscaled or slope > 0):
        return dtype.newbyteorder("=")
    if dtype.kind == "f" and dtype.itemsize == 4 and unscaled:
        return dtype.newbyteorder("=")
    return np.dtype(np.float32)


def _read_voxels(
    stream: BinaryIO,
    shape: tuple[int, ...],
    dtype: np.dtype,
    store: np.dtype,
    slope_inter: tuple[float | None, float | None],
    check_stop: CheckStop,
) -> np.ndarray:
    """The voxels (Fortran order on disk) read chunk by chunk into one ``store`` array of ``shape``."""
    n_values = int(np.prod(shape, dtype=np.int64))
    flat = np.empty(n_values, store)
    slope, inter = slope_inter
    scale = store != dtype.newbyteorder("=")
    truncated = InvalidImage("the NIfTI file is shorter than its header declares (truncated?)")
    for start in range(0, n_values, _CHUNK_VALUES):
        stop = min(n_values, start + _CHUNK_VALUES)
        if scale:
            size = (stop - start) * dtype.itemsize
            chunk = read_exactly(stream, size)
            if len(chunk) < size:
                raise truncated
            values = np.frombuffer(chunk, dtype).astype(np.float32)
            flat[start:stop] = values * np.float32(slope) + np.float32(inter) if slope is not None else values
        else:
            view = memoryview(flat[start:stop].view(np.uint8))
            if _readinto_exactly(stream, view) < len(view):
                raise truncated
        check_stop()
    if not scale and dtype != dtype.newbyteorder("="):
        flat.byteswap(inplace=True)  # the file's byte order, read into native-order memory
    return flat.reshape(shape, order="F")


def _readinto_exactly(stream: BinaryIO, view: memoryview) -> int:
    done = 0
    while done < len(view):
        n = stream.readinto(view[done:])  # type: ignore[attr-defined]
        if not n:
            break
        done += n
    return done


def _skip(stream: BinaryIO, size: int) -> None:
    while size > 0:
        data = stream.read(min(size, 1 << 16))
        if not data:
            raise InvalidImage("the NIfTI file is shorter than its header declares (truncated?)")
        size -= len(data)
