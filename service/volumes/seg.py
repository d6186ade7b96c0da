"""The mask of a DICOM series as a DICOM Segmentation (highdicom), ready to store back into a PACS.

One binary segment, "FLAIR abnormality" (SNOMED CT: category Morphologically abnormal structure,
type Neoplasm), algorithm type AUTOMATIC with the segmenter's name and version. Frames reference
the source instances (their SOP Instance UIDs) and share their Frame of Reference; frames with no
tumour are left out (highdicom's ``omit_empty_frames``). A new series in the source's study.
"""

from __future__ import annotations

import io
import logging
import re

import highdicom as hd
import numpy as np
import pydicom
from pydicom.datadict import tag_for_keyword

from contract.dicom import segment_description
from service.errors import InvalidImage

logger = logging.getLogger(__name__)

MANUFACTURER = "brain-mri-tumour"
SERIES_NUMBER = 9901
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


def segmentation_bytes(
    datasets: list[pydicom.Dataset],
    mask: np.ndarray,
    model_name: str,
    model_version: str,
    frame_order: list[int] | None = None,
    slice_step_mm: float | None = None,
) -> bytes:
    """A DICOM SEG (Part 10 bytes) of ``mask`` ``(slices, rows, columns)``: slice ``k`` is frame
    ``frame_order[k]`` of ``datasets`` (single-frame images, or one multi-frame image), counted in
    their order (default: slice ``k`` is frame ``k``). Single-frame images without
    ``SliceThickness`` get the series' slice step (``slice_step_mm``, from their positions): the
    SEG's pixel measures need one."""
    frames = sum(int(ds.get("NumberOfFrames") or 1) for ds in datasets)
    if len(datasets) > 1 and frames != len(datasets):
        raise InvalidImage(
            "output=dicom-seg is not available for a series of several multi-frame images; "
            "ask for the JSON answer, or send one multi-frame image"
        )
    if slice_step_mm is not None:
        for ds in datasets:
            if "SliceThickness" not in ds and "PerFrameFunctionalGroupsSequence" not in ds:
                ds.SliceThickness = f"{slice_step_mm:.6g}"
    by_frame = np.empty(mask.shape, np.uint8)
    by_frame[np.asarray(frame_order if frame_order is not None else range(len(mask)))] = mask
    description = segment_description(model_name, model_version)
    try:
        seg = hd.seg.Segmentation(
            source_images=datasets,
            pixel_array=by_frame,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[description],
            series_instance_uid=hd.UID(),
            series_number=SERIES_NUMBER,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer=MANUFACTURER,
            manufacturer_model_name=model_name,
            software_versions=f"{model_name} {model_version}",
            device_serial_number="0",
            series_description="FLAIR abnormality (automatic)",
        )
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        # highdicom refuses sources that lack what a SEG must copy (patient, study, frame of reference)
        logger.debug("DICOM SEG could not be written: %r", exc)
        missing = [k for k in SEG_NEEDS if k not in datasets[0]] or _named_attribute(exc)
        reason = f"the series lacks {', '.join(missing)}" if missing else "its DICOM attributes are incomplete"
        raise InvalidImage(
            f"a DICOM SEG cannot be made from this series ({reason}); ask for the JSON answer instead"
        ) from None
    buffer = io.BytesIO()
    seg.save_as(buffer)
    return buffer.getvalue()


def _named_attribute(exc: Exception) -> list[str]:
    """The DICOM keyword a highdicom error names (``... has no attribute 'SliceThickness'``), if any."""
    match = re.search(r"attribute '(\w+)'", str(exc))
    return [match.group(1)] if match and tag_for_keyword(match.group(1)) is not None else []
