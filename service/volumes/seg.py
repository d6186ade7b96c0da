"""The mask of a DICOM series as a DICOM Segmentation (highdicom), ready to store back into a PACS.

One binary segment, "FLAIR abnormality" (SNOMED CT: category Morphologically abnormal structure,
type Neoplasm), algorithm type AUTOMATIC with the segmenter's name and version. Frames reference
the source instances (their SOP Instance UIDs) and share their Frame of Reference; frames with no
tumour are left out (highdicom's ``omit_empty_frames``). A new series in the source's study.
"""

from __future__ import annotations

import io
import logging

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes

from service.errors import InvalidImage

logger = logging.getLogger(__name__)

SEGMENT_LABEL = "FLAIR abnormality"
MANUFACTURER = "brain-mri-tumour"
SERIES_NUMBER = 9901


def segmentation_bytes(
    datasets: list[pydicom.Dataset], mask: np.ndarray, model_name: str, model_version: str
) -> bytes:
    """A DICOM SEG (Part 10 bytes) of ``mask`` ``(slices, rows, columns)``, aligned with ``datasets``."""
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=SEGMENT_LABEL,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=model_name, version=model_version, family=codes.cid7162.ArtificialIntelligence
        ),
    )
    try:
        seg = hd.seg.Segmentation(
            source_images=datasets,
            pixel_array=np.ascontiguousarray(mask, dtype=np.uint8),
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
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        # highdicom refuses sources that lack what a SEG must copy (patient, study, frame of reference)
        logger.info("DICOM SEG could not be written: %r", exc)
        raise InvalidImage(f"a DICOM SEG cannot be made from this series: {exc}") from None
    buffer = io.BytesIO()
    seg.save_as(buffer)
    return buffer.getvalue()
