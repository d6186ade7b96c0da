"""Recognise what a ``/volume`` upload is (from its bytes) and read it.

One file (``file``): a NIfTI-1/2 file, gzipped or not; a ``.zip`` of one DICOM series; or a single
DICOM file (a one-slice series). Several files (``files``): the DICOM files of one series.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.errors import UnsupportedImage
from service.images.sniff import has_dicom_magic
from service.volumes.dicom_series import ZIP_MAGIC, read_series, unzip
from service.volumes.nifti import GZIP_MAGIC, gunzip, looks_like_nifti, read_nifti
from service.volumes.volume import Volume, VolumeLimits

#: Bytes a gzipped NIfTI may hold beyond its voxel data (header and extensions).
HEADER_ALLOWANCE = 1 << 20
SUPPORTED = "send a NIfTI file (.nii, .nii.gz), a .zip of one DICOM series, or the DICOM files of one series"


def read_volume(files: Sequence[tuple[str, bytes]], limits: VolumeLimits) -> Volume:
    """Read the upload (``(label, bytes)`` per file, in the order sent) as one volume."""
    if len(files) > 1:
        return read_series(files, limits)
    label, data = files[0]
    if not data:
        raise UnsupportedImage(f"{label}: the file is empty")
    if data.startswith(ZIP_MAGIC):
        return read_series(unzip(data, limits), limits)
    if has_dicom_magic(data):
        return read_series(files, limits)
    raw = gunzip(data, limits.max_bytes + HEADER_ALLOWANCE) if data.startswith(GZIP_MAGIC) else data
    if looks_like_nifti(raw):
        return read_nifti(raw, limits)
    raise UnsupportedImage(f"{label}: not a volume; {SUPPORTED}")
