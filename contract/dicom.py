"""What the service and the gateway agree on about DICOM series and the SEG they write.

- :func:`slice_step`: the slice step of a series from its slices' positions along the slice normal,
  refusing two slices at one position and gaps (a missing slice, or files of different series);
- :func:`segment_description`: the one segment of the tumour DICOM SEG (label, property codes, the
  algorithm: the segmenter's name and version).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Slices closer than this along the normal (mm) are one position (a duplicate).
DUPLICATE_MM = 0.01
#: A step this much above the series' smallest step is a gap (a slice missing).
SPACING_TOLERANCE = 0.1
#: The label of the segment of the tumour DICOM SEG.
SEGMENT_LABEL = "FLAIR abnormality"


class SeriesGeometryError(ValueError):
    """The slices of a series do not make one regular stack (duplicates or a gap); the message names them."""


def slice_step(distances: np.ndarray, labels: Sequence[str]) -> float:
    """The median step (mm) between consecutive ``distances`` (ascending, one per slice, ``labels``
    naming them); :class:`SeriesGeometryError` for two slices at one position or a gap."""
    steps = np.diff(np.asarray(distances, float))
    for i, gap in enumerate(steps):
        if gap < DUPLICATE_MM:
            raise SeriesGeometryError(
                f"duplicate slices: {labels[i]} and {labels[i + 1]} are at the same position "
                f"({distances[i]:.2f} mm along the slice normal)"
            )
    smallest = float(steps.min())
    for i, gap in enumerate(steps):
        if gap > smallest * (1 + SPACING_TOLERANCE):
            raise SeriesGeometryError(
                f"a gap in the series: {gap:.2f} mm between {labels[i]} and {labels[i + 1]} "
                f"(at {distances[i]:.2f} and {distances[i + 1]:.2f} mm) where the series steps "
                f"{smallest:.2f} mm; a slice is missing or the files are not one series"
            )
    return float(np.median(steps))


def segment_description(name: str, version: str):
    """The highdicom ``SegmentDescription`` of the tumour segment, made by the model ``name``/``version``."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

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
