"""The refusals of the DICOM layer and the messages every endpoint and the gateway give alike."""

from __future__ import annotations

#: A DICOM file whose header or pixel data pydicom cannot read, whatever the decoder's own error.
BROKEN_DICOM = "the DICOM file is broken or truncated: its header or pixel data cannot be read"
NO_PIXEL_DATA = "the DICOM file has no pixel data"
NO_ROWS_COLUMNS = "the DICOM file has no Rows/Columns"


class DicomError(ValueError):
    """A DICOM input that cannot be used as asked; the message names the file or frame and says why
    (the service answers 422)."""


class SliceGap(DicomError):
    """A step between slices larger than the series' smallest: a slice is missing inside the series
    (it may still be arriving: the gateway waits for it) or the files are not one series."""


class UnsupportedDicom(DicomError):
    """Pixel data in a transfer syntax no installed decoder reads (the service answers 415)."""


class SegError(DicomError):
    """A DICOM SEG cannot be made from the series (it lacks what a SEG must copy or measure)."""
