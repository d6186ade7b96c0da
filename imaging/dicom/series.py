"""One DICOM series: its checked images, their frames in slice order, the affine, and the voxels.

Headers first (:func:`dicom_series`, or :func:`read_series` from datasets): the checks of
:mod:`imaging.dicom` are made and the frames ordered before any pixel is decoded, so a caller can
size the work (``shape``, ``dtype``) and refuse it early. Voxels then (:meth:`DicomSeries.pixels`),
a frame at a time, from the datasets themselves or from a decoder the caller gives (its files).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import iter_pixels

from imaging.dicom.errors import BROKEN_DICOM, DicomError
from imaging.dicom.frames import Frame, modality_values, stored_dtype
from imaging.dicom.geometry import SeriesGeometry, series_geometry
from imaging.dicom.image import DicomImage, dicom_image

logger = logging.getLogger(__name__)

#: Decoded stored values of image ``i`` of a series, frame by frame (``(rows, columns)`` each).
FrameDecoder = Callable[[int], Iterable[np.ndarray]]


@dataclass(frozen=True)
class DicomSeries:
    """A checked series. ``images``: in the order given; ``frames``: theirs, in that order;
    ``geometry``: slice ``k`` is ``frames[geometry.order[k]]`` (ascending along the normal), the
    affine maps (slice, row, column) to RAS+ mm; ``dtype``: of :meth:`pixels` (stored values when
    one positive linear rescale covers the series, else float32 modality values)."""

    images: list[DicomImage]
    frames: list[Frame]
    geometry: SeriesGeometry
    dtype: np.dtype

    @property
    def shape(self) -> tuple[int, int, int]:
        """(slices, rows, columns)."""
        header = self.images[0].header
        return len(self.frames), int(header.Rows), int(header.Columns)

    @property
    def datasets(self) -> list[Dataset]:
        return [image.header for image in self.images]

    @property
    def affine(self) -> np.ndarray:
        return self.geometry.affine

    @property
    def spacing_mm(self) -> tuple[float, float, float] | None:
        return self.geometry.spacing_mm

    def source_frames(self) -> list[tuple[int, int]]:
        """Per slice, in slice order: (index of its image, index of the frame in that image)."""
        where = [(i, n) for i, image in enumerate(self.images) for n in range(len(image.frames))]
        return [where[k] for k in self.geometry.order]

    def same_grid(self, other: DicomSeries) -> bool:
        """True when ``other`` samples the same voxels (size, orientation, positions within 0.05 mm)."""
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=0.05))

    def pixels(
        self, decoded: FrameDecoder | None = None, check_stop: Callable[[], None] = lambda: None
    ) -> np.ndarray:
        """The voxels ``(slices, rows, columns)`` in slice order, of :attr:`dtype`: modality LUT only,
        ``MONOCHROME1`` inverted. ``decoded``: the stored frames of image ``i`` (default: decoded from
        the datasets, which must then hold their pixel data); ``check_stop`` is called after each
        frame (it may raise to stop). A frame that cannot be decoded is a :class:`DicomError`."""
        decoded = decoded or self._dataset_frames
        rows, columns = self.shape[1:]
        data = np.empty(self.shape, self.dtype)
        slot = {frame: k for k, frame in enumerate(self.geometry.order)}
        start = 0
        for i, image in enumerate(self.images):
            for n, stored in enumerate(_checked(image, decoded, i, rows, columns)):
                data[slot[start + n]] = modality_values(stored, image.frames[n], self.dtype, image.header)
                check_stop()
            start += len(image.frames)
        return data

    def _dataset_frames(self, index: int) -> Iterator[np.ndarray]:
        return iter_pixels(self.images[index].header)


def dicom_series(images: Sequence[DicomImage]) -> DicomSeries:
    """The series of checked images (:func:`imaging.dicom.image.dicom_image`): one series UID, one
    size, then the geometry of all their frames (:func:`imaging.dicom.geometry.series_geometry`)."""
    if not images:
        raise DicomError("the series has no images")
    uids = Counter(str(image.header.get("SeriesInstanceUID", "") or "") for image in images)
    if len(uids) > 1:
        listed = "; ".join(f"{uid or '(none)'} ({n} files)" for uid, n in uids.most_common())
        raise DicomError(f"the upload holds {len(uids)} series: {listed}; send one series per request")
    first = images[0]
    rows, columns = int(first.header.Rows), int(first.header.Columns)
    for image in images[1:]:
        size = (int(image.header.Rows), int(image.header.Columns))
        if size != (rows, columns):
            raise DicomError(f"{image.label} is {size[1]}x{size[0]} pixels, {first.label} {columns}x{rows}")
    frames = [frame for image in images for frame in image.frames]
    thickness = next((f.thickness for f in frames if f.thickness is not None), None)
    geometry = series_geometry([f.geometry for f in frames], thickness)
    dtype = stored_dtype([image.header for image in images], frames)
    return DicomSeries(list(images), frames, geometry, dtype)


def read_series(datasets: Sequence[Dataset], labels: Sequence[str] | None = None) -> DicomSeries:
    """:func:`dicom_series` of datasets (headers, or whole datasets to read the voxels from them);
    ``labels`` name them in errors (default ``instance <InstanceNumber>``)."""
    names = labels or [None] * len(datasets)
    return dicom_series([dicom_image(ds, label) for ds, label in zip(datasets, names, strict=True)])


def _checked(
    image: DicomImage, decoded: FrameDecoder, index: int, rows: int, columns: int
) -> Iterator[np.ndarray]:
    """The frames of one image as the decoder gives them, checked against Rows/Columns and the count."""
    count = 0
    try:
        for pixels in decoded(index):
            if pixels.shape != (rows, columns):
                raise DicomError(f"{image.label}: the DICOM pixel data does not match its Rows/Columns")
            count += 1
            if count > len(image.frames):
                raise DicomError(f"{image.label}: {BROKEN_DICOM}")
            yield pixels
    except DicomError:
        raise
    except Exception as exc:  # whatever a decoder raises on broken or truncated pixel data
        logger.debug("DICOM pixel decoding failed: %r", exc)
        raise DicomError(f"{image.label}: {BROKEN_DICOM}") from None
    if count != len(image.frames):
        raise DicomError(f"{image.label}: {BROKEN_DICOM}")
