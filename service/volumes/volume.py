"""A decoded volume on its own voxel grid, and the limits checked before any voxel is decoded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from service.errors import InvalidImage, RequestTooLarge


def check_bytes(size: int, limit: int, what: str) -> None:
    """413 when ``size`` decompressed bytes exceed ``limit``."""
    if size > limit:
        raise RequestTooLarge(f"{what} is {size} bytes decompressed; the limit is {limit} bytes")


@dataclass(frozen=True)
class VolumeLimits:
    """Set from ``MRI_MAX_VOLUME_*`` (``service.routers.volume.volume_limits``). ``max_slices``: most slices (along the slice axis; DICOM: files); ``max_bytes``: most bytes of
    decompressed voxel data (NIfTI after gunzip, DICOM pixel data, files of a zip together);
    ``min_side``/``max_side``: accepted in-plane size of a slice."""

    max_slices: int
    max_bytes: int
    min_side: int
    max_side: int

    def check_bytes(self, size: int, what: str) -> None:
        check_bytes(size, self.max_bytes, what)

    def check_slices(self, count: int, what: str = "the volume") -> None:
        if count > self.max_slices:
            raise InvalidImage(f"{what} has {count} slices; the limit is {self.max_slices} slices per volume")
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
    post-contrast) on the input's own voxel grid, any numeric dtype (DICOM: after the modality LUT);
    ``affine``: voxel index -> RAS+ mm; ``spacing_mm``: voxel size along each input axis, None when
    the file does not give it; ``kind``: "nifti" or "dicom". NIfTI keeps its ``header`` (for the
    mask file); a DICOM series keeps its ``datasets``, one per index of axis 0, for the SEG output.
    """

    data: np.ndarray
    affine: np.ndarray
    spacing_mm: tuple[float, float, float] | None
    kind: Literal["nifti", "dicom"]
    header: Any = None
    datasets: list[Any] | None = None

    @property
    def voxel_ml(self) -> float | None:
        """Volume of one voxel in mL (None when the voxel size is unknown)."""
        if self.spacing_mm is None:
            return None
        return float(np.prod(self.spacing_mm)) / 1000.0
