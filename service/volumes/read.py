"""Recognise what a ``/volume`` upload is (from its bytes) and open it: headers read, voxels not yet.

One file (``file``): a NIfTI-1/2 file, gzipped or not; a ``.zip`` of one DICOM series; or a single
DICOM file (a one-image series: one slice, or a multi-frame Enhanced MR volume). Several files
(``files``): the DICOM files of one series. Every compressed byte goes through the counting
readers of :mod:`service.volumes.archive`; zip members are extracted to temporary files.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import PurePosixPath
from typing import BinaryIO

from service.errors import UnsupportedImage
from service.volumes.archive import ZIP_MAGIC, zip_members
from service.volumes.dicom_series import DICM_OFFSET, is_dicom, no_image_detail, open_series
from service.volumes.inflate import GZIP_MAGIC, BoundedInflater, Budget
from service.volumes.nifti import MAX_EXTENSION_BYTES, open_nifti
from service.volumes.volume import CheckStop, PendingVolume, Volume, VolumeLimits

SUPPORTED = "send a NIfTI file (.nii, .nii.gz), a .zip of one DICOM series, or the DICOM files of one series"
#: Files of a zip skipped by name, unread.
_SKIPPED_NAMES = {"DICOMDIR"}


def open_volume(
    files: Sequence[tuple[str, BinaryIO | bytes]], limits: VolumeLimits, check_stop: CheckStop = lambda: None
) -> PendingVolume:
    """Open the upload (``(label, file)`` per file, in the order sent; bytes are taken too)."""
    uploads = [(label, io.BytesIO(f) if isinstance(f, bytes | bytearray) else f) for label, f in files]
    if len(uploads) > 1:
        return open_series(uploads, limits, check_stop)
    label, file = uploads[0]
    file.seek(0)
    head = file.read(DICM_OFFSET + 4)
    file.seek(0)
    if not head:
        raise UnsupportedImage(f"{label}: the file is empty")
    if head.startswith(ZIP_MAGIC):
        return _open_zip(file, limits, check_stop)
    if is_dicom(file):
        return open_series(uploads, limits, check_stop)
    stream: BinaryIO = file
    if head.startswith(GZIP_MAGIC):
        budget = Budget(limits.max_bytes + MAX_EXTENSION_BYTES + 1024, "the gzip file")
        stream = BoundedInflater(file, "gzip", budget, "the gzip file")  # type: ignore[assignment]
    try:
        return open_nifti(stream, limits)
    except UnsupportedImage as exc:
        if exc.detail.startswith("not a NIfTI"):
            raise UnsupportedImage(f"{label}: not a volume; {SUPPORTED}") from None
        raise


def read_volume(
    files: Sequence[tuple[str, BinaryIO | bytes]], limits: VolumeLimits, check_stop: CheckStop = lambda: None
) -> Volume:
    """Open and decode the upload at once (no memory budget): for tests and scripts."""
    pending = open_volume(files, limits, check_stop)
    try:
        return pending.load(check_stop)
    finally:
        pending.close()


def _open_zip(file: BinaryIO, limits: VolumeLimits, check_stop: CheckStop) -> PendingVolume:
    """The DICOM files of a zip, to temporary files; the others (README, Thumbs.db, DICOMDIR, ...)
    skipped and counted. Declared sizes are checked before anything is extracted: the members'
    together against ``max_bytes`` (a bomb that declares what it inflates to), then the DICOM files'."""
    members = list(zip_members(file, limits.max_files))
    limits.check_files(len(members), "the zip file")
    named = [
        m
        for m in members
        if PurePosixPath(m.info.filename.replace("\\", "/")).name.upper() not in _SKIPPED_NAMES
    ]
    declared = sum(member.info.file_size for member in named)
    limits.check_bytes(declared, "the zip file (the sizes its directory declares)")
    budget = Budget(limits.max_bytes, "the zip file")
    dicom, not_dicom, zips = [], 0, 0
    for member in named:
        check_stop()
        head = member.open(budget).read_exactly(DICM_OFFSET + 4)
        if head[DICM_OFFSET:] == b"DICM":
            dicom.append(member)
        elif head.startswith(ZIP_MAGIC):
            zips += 1
        else:
            not_dicom += 1
    skipped = len(members) - len(dicom)
    if not dicom:
        raise UnsupportedImage(no_image_detail(len(members), not_dicom, zips, "in the zip file"))
    limits.check_slices(len(dicom), "the zip file")
    limits.check_bytes(sum(member.info.file_size for member in dicom), "the zip file")
    with ExitStack() as stack:
        extracted = []
        for member in dicom:
            target = member.extract(budget, check_stop)
            stack.callback(target.close)
            extracted.append((member.label, target))
        pending = open_series(extracted, limits, check_stop, skipped=skipped)
        pending.close = stack.pop_all().close
    return pending
