"""One series as the gateway reads it: its files (pydicom), then the shared DICOM layer.

The series' checks, slice order, affine and voxels are :mod:`imaging.dicom`'s, the service's own
(``read_series``, ``DicomSeries.pixels``): the same refusals, with the same messages, on both
sides. The gateway adds one: a series whose SEG cannot be made (no ``PixelSpacing``, a series of
several multi-frame images, a source lacking what a SEG copies: :func:`imaging.dicom.seg.check_source`)
is refused before the service is asked, since a SEG is what the gateway sends back. Every refusal
is a :class:`~imaging.dicom.errors.DicomError` (the job fails with its message); a missing slice is
its subclass :class:`~imaging.dicom.errors.SliceGap` (:mod:`gateway.completeness` waits for it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pydicom

from imaging.dicom.errors import BROKEN_DICOM, DicomError
from imaging.dicom.seg import check_source
from imaging.dicom.series import DicomSeries, read_series

logger = logging.getLogger(__name__)


def read(paths: Sequence[Path], pixels: bool = True) -> list[pydicom.Dataset]:
    """The files of a series (headers only with ``pixels=False``); DicomError for an unreadable one."""
    out = []
    for path in paths:
        try:
            out.append(pydicom.dcmread(path, stop_before_pixels=not pixels))
        except Exception as exc:  # noqa: BLE001 - whatever pydicom raises on a broken file
            logger.debug("DICOM file not readable: %r", exc)
            raise DicomError(f"an instance of the series: {BROKEN_DICOM}") from None
    return out


def analysable(datasets: Sequence[pydicom.Dataset]) -> DicomSeries:
    """The series of ``datasets`` (:func:`imaging.dicom.series.read_series`), refused unless a SEG
    can be made from it."""
    series = read_series(datasets)
    check_source(series)
    return series
