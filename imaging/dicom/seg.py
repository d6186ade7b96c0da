"""The one DICOM SEG of a tumour mask on a DICOM series (highdicom), for the service and the gateway.

Policy: one binary segment "FLAIR abnormality" (SNOMED CT: category Morphologically abnormal
structure, type Neoplasm), algorithm type AUTOMATIC named after the model (name and version); a new
series (number :data:`SERIES_NUMBER`, manufacturer :data:`MANUFACTURER`) in the source's study,
sharing its Frame of Reference. **One frame per source frame, empty ones included** (some viewers
need a frame on every slice to lay the mask over the series), each referencing its source instance
(and frame), in the order highdicom's dimension organisation gives them (by position: the same
whatever order the files were read in). A single-frame source without ``SliceThickness`` is given the series'
slice step (on a copy: the caller's datasets are not changed): the SEG's pixel measures need one.

Refused (:class:`~imaging.dicom.errors.SegError`): a series without ``PixelSpacing`` or with no
known slice step (a SEG measures its frames in mm), a series of several multi-frame images, and a
source lacking what a SEG must copy (patient, study, frame of reference; the message names it).

The same series (read by :mod:`imaging.dicom.series` from the same files, in any order, headers
only or with pixels) and the same mask give the same SEG, but for its UIDs and creation times.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from imaging.dicom.errors import SegError
from imaging.dicom.series import DicomSeries

logger = logging.getLogger(__name__)

#: The label of the one segment.
SEGMENT_LABEL = "FLAIR abnormality"
MANUFACTURER = "brain-mri-tumour"
SERIES_NUMBER = 9901
SERIES_DESCRIPTION = f"{SEGMENT_LABEL} (automatic)"
#: What a SEG copies from its source images (highdicom refuses sources without them).
SEG_NEEDS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "SOPClassUID",
    "FrameOfReferenceUID",
    "PatientID",
    "PatientName",
    "StudyDate",
)


@dataclass(frozen=True)
class SegUids:
    """The SEG's series and instance UIDs: chosen once (e.g. per gateway job) so that writing the SEG
    again gives the same instance, or new ones (:meth:`new`)."""

    series: str
    instance: str

    @classmethod
    def new(cls) -> SegUids:
        return cls(hd.UID(), hd.UID())


def segmentation(
    series: DicomSeries, mask: np.ndarray, model_name: str, model_version: str, uids: SegUids | None = None
) -> hd.seg.Segmentation:
    """The DICOM SEG (module policy) of ``mask``, ``(slices, rows, columns)`` non-zero = tumour, in
    the series' slice order (slice ``k`` of :meth:`DicomSeries.pixels`, of a ``POST /volume`` answer
    for the series), made by the model ``model_name``/``model_version``."""
    if np.shape(mask) != series.shape:
        raise ValueError(f"the mask is {np.shape(mask)}, the series {series.shape}")
    check_source(series)
    sources, by_frame = _sources(series, np.asarray(mask))
    uids = uids or SegUids.new()
    try:
        return hd.seg.Segmentation(
            source_images=sources,
            pixel_array=by_frame,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[segment_description(model_name, model_version)],
            series_instance_uid=uids.series,
            series_number=SERIES_NUMBER,
            sop_instance_uid=uids.instance,
            instance_number=1,
            manufacturer=MANUFACTURER,
            manufacturer_model_name=model_name,
            software_versions=f"{model_name} {model_version}",
            device_serial_number="0",
            series_description=SERIES_DESCRIPTION,
            omit_empty_frames=False,
        )
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        logger.debug("DICOM SEG could not be written: %r", exc)
        named = _named_attribute(exc)
        reason = f"the series lacks {named}" if named else "its DICOM attributes are incomplete"
        raise SegError(f"a DICOM SEG cannot be made from this series ({reason})") from None


def check_source(series: DicomSeries) -> None:
    """:class:`SegError` when no SEG can be made from ``series``, whatever the mask (the module's
    refusals): a caller can ask before it computes the mask (the gateway does, before the service)."""
    if series.geometry.missing:
        raise SegError(f"a DICOM SEG cannot be made from this series (the series lacks {_lacks(series)})")
    if len(series.images) > 1 and any(len(image.frames) > 1 for image in series.images):
        raise SegError(
            f"a DICOM SEG can reference one multi-frame image; the series has {len(series.images)} images"
        )
    first = series.images[series.source_frames()[0][0]].header
    missing = [keyword for keyword in SEG_NEEDS if keyword not in first]
    if missing:
        raise SegError(f"a DICOM SEG cannot be made from this series (the series lacks {', '.join(missing)})")


def segmentation_bytes(
    series: DicomSeries, mask: np.ndarray, model_name: str, model_version: str, uids: SegUids | None = None
) -> bytes:
    """:func:`segmentation` as DICOM Part 10 bytes."""
    buffer = io.BytesIO()
    segmentation(series, mask, model_name, model_version, uids).save_as(buffer)
    return buffer.getvalue()


def segment_description(name: str, version: str) -> hd.seg.SegmentDescription:
    """The one segment (module policy), made by the model ``name``/``version``."""
    return hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=SEGMENT_LABEL,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=name, version=version, family=codes.cid7162.ArtificialIntelligence
        ),
    )


def _sources(series: DicomSeries, mask: np.ndarray) -> tuple[list[Dataset], np.ndarray]:
    """highdicom's source images and the mask frame by frame in their order (module policy; a source
    :func:`check_source` accepts)."""
    mask = np.ascontiguousarray(mask != 0, dtype=np.uint8)
    where = series.source_frames()
    if all(len(image.frames) == 1 for image in series.images):
        step = series.geometry.slice_step_mm
        return [_with_thickness(series.images[i].header, step) for i, _ in where], mask
    by_frame = np.empty_like(mask)
    by_frame[[n for _, n in where]] = mask
    return [series.images[0].header], by_frame


def _with_thickness(ds: Dataset, step: float | None) -> Dataset:
    if "SliceThickness" in ds or step is None:
        return ds
    copy = Dataset(dict(ds))  # new elements go to the copy only (copy.copy shares them)
    if getattr(ds, "file_meta", None) is not None:
        copy.file_meta = ds.file_meta
    copy.SliceThickness = f"{step:.6g}"
    return copy


def _lacks(series: DicomSeries) -> str:
    return " and ".join(
        "PixelSpacing" if "PixelSpacing" in what else "SpacingBetweenSlices or SliceThickness"
        for what in series.geometry.missing
    )


def _named_attribute(exc: Exception) -> str | None:
    """The DICOM keyword a highdicom error names (``... has no attribute 'SliceThickness'``), if any."""
    match = re.search(r"attribute '(\w+)'", str(exc))
    return match.group(1) if match and tag_for_keyword(match.group(1)) is not None else None
