"""A decoded volume on its own voxel grid, the limits checked before any voxel is decoded, and the
opened-but-not-decoded upload (:class:`PendingVolume`) whose memory is known from its headers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from imaging.dicom.series import DicomSeries
from service.errors import InvalidImage, RequestTooLarge

#: The settings behind the limits, named in the refusals.
SLICES_SETTING, BYTES_SETTING = "MRI_MAX_VOLUME_SLICES", "MRI_MAX_VOLUME_BYTES"
#: Called between files, frames and chunks while decoding; raises to stop (time budget).
CheckStop = Callable[[], None]


@dataclass(frozen=True)
class VolumeLimits:
    """Set from ``MRI_MAX_VOLUME_*`` (``service.volumes.request.volume_limits``). ``max_slices``: most
    slices (along the slice axis; DICOM: images); ``max_bytes``: most bytes of decompressed data
    (NIfTI voxels and the gzip stream, DICOM pixel data, the files of a zip together);
    ``min_side``/``max_side``: accepted in-plane size of a slice. Files of a zip or of ``files``
    that are not DICOM images are skipped, at most ``max_slices`` of them (:attr:`max_files`)."""

    max_slices: int
    max_bytes: int
    min_side: int
    max_side: int

    @property
    def max_files(self) -> int:
        """Most files of one upload (DICOM images and skipped files together)."""
        return 2 * self.max_slices

    def check_files(self, count: int, what: str) -> None:
        """422 when an upload holds more than :attr:`max_files` files."""
        if count > self.max_files:
            raise InvalidImage(
                f"{what} holds {count} files; the limit is {self.max_files} files per volume "
                f"(twice {SLICES_SETTING})"
            )

    def check_bytes(self, size: int, what: str) -> None:
        """413 when ``size`` decompressed bytes exceed ``max_bytes``."""
        if size > self.max_bytes:
            raise RequestTooLarge(
                f"{what} is {size} bytes decompressed; the limit is {self.max_bytes} bytes ({BYTES_SETTING})"
            )

    def check_slices(self, count: int, what: str = "the volume") -> None:
        if count > self.max_slices:
            raise InvalidImage(
                f"{what} has {count} slices; the limit is {self.max_slices} slices per volume ({SLICES_SETTING})"
            )
        if count < 1:
            raise InvalidImage(f"{what} has no slices")

    def check_slice_size(self, height: int, width: int) -> None:
        if min(height, width) < self.min_side or max(height, width) > self.max_side:
            raise InvalidImage(
                f"slices are {width}x{height} pixels; each side must be from {self.min_side} to {self.max_side}"
            )


@dataclass
class Volume:
    """One uploaded volume.

    ``data``: ``(X, Y, Z)`` (one sequence, taken as FLAIR) or ``(X, Y, Z, 3)`` (pre-contrast, FLAIR,
    post-contrast) on the input's own voxel grid, any numeric dtype: the stored values when one
    positive linear rescale covers the whole volume (the intensity window does not depend on it),
    else float32 modality values; ``affine``: voxel index -> RAS+ (mm when ``spacing_mm`` is known;
    without a voxel size from the file its columns are unit vectors, used only to find the slices);
    ``spacing_mm``: voxel size along each input axis, None when the file does not give it;
    ``kind``: "nifti" or "dicom"; ``warnings``: what the answer must say about the geometry;
    ``skipped_files``: files of the upload that were not DICOM images (README, Thumbs.db, DICOMDIR).
    NIfTI keeps its ``header`` (the mask file copies it); a DICOM series keeps its
    :class:`imaging.dicom.series.DicomSeries` (headers, no pixel data; slice ``k`` of ``data`` is its
    slice ``k``) for the SEG output.
    """

    data: np.ndarray | None
    affine: np.ndarray
    spacing_mm: tuple[float, float, float] | None
    kind: Literal["nifti", "dicom"]
    header: Any = None
    series: DicomSeries | None = None
    warnings: list[str] = field(default_factory=list)
    skipped_files: int = 0

    @property
    def voxel_ml(self) -> float | None:
        """Volume of one voxel in mL (None when the voxel size is unknown)."""
        if self.spacing_mm is None:
            return None
        return float(np.prod(self.spacing_mm)) / 1000.0


@dataclass
class PendingVolume:
    """An upload whose headers are read and checked but whose voxels are not decoded yet.

    ``shape``: spatial shape (3 axes); ``channels``: 1 or 3; ``itemsize``: bytes per stored value;
    ``slice_shape``: in-plane (height, width) of a model slice; ``files``: files read (their headers
    are held); ``header_bytes``: bytes of headers held in memory. ``load`` decodes the voxels
    (calling its ``CheckStop`` argument between chunks) into the :class:`Volume`; ``close`` drops
    temporary files. The memory a request needs is :func:`service.volumes.budget.volume_memory`.
    """

    shape: tuple[int, int, int]
    channels: int
    itemsize: int
    slice_shape: tuple[int, int]
    files: int
    header_bytes: int
    kind: Literal["nifti", "dicom"]
    load: Callable[[CheckStop], Volume]
    close: Callable[[], None] = lambda: None

    @property
    def voxels(self) -> int:
        """Voxels of the spatial grid (a 4-D volume's sequences counted once)."""
        return int(np.prod(self.shape, dtype=np.int64))
