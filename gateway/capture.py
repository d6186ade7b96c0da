"""For viewers without DICOM SEG support: the FLAIR slices with the mask's outline burned in, as a
Secondary Capture series of the source study (highdicom ``SCImage``; ``MRI_GATEWAY_SECONDARY_CAPTURE``,
off by default).

One RGB instance per FLAIR frame, in slice order (series number 9903, "FLAIR abnormality outline
(automatic)"): the frame's grey values windowed to 8 bits (the series' 1st to 99th percentile), the
outline of the mask (its voxels that touch a voxel outside it in the slice) in red. Each instance
keeps its frame's pixel spacing and patient orientation (row and column directions), numbered in
slice order. These images are for reading, not measuring: the
SEG and SR carry the figures. Not diagnostic, like everything the gateway sends.
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
from scipy import ndimage

from imaging.dicom.seg import MANUFACTURER
from imaging.dicom.series import DicomSeries

SERIES_NUMBER = 9903
DESCRIPTION = "FLAIR abnormality outline (automatic)"
OUTLINE_RGB = (255, 0, 0)
WINDOW_PERCENTILES = (1.0, 99.0)


def outlined(voxels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(slices, rows, columns, 3)`` uint8: ``voxels`` windowed to grey, ``mask``'s outline in red."""
    low, high = np.percentile(voxels, WINDOW_PERCENTILES)
    grey = np.clip((voxels - low) / max(float(high - low), 1e-6) * 255.0, 0, 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    inside = mask.astype(bool)
    structure = np.zeros((1, 3, 3), bool)
    structure[0, 1, :] = structure[0, :, 1] = True  # in-plane neighbours only
    edge = inside & ~ndimage.binary_erosion(inside, structure, border_value=0)
    rgb[edge] = OUTLINE_RGB
    return rgb


def _letter(direction) -> str:
    """The patient direction (LPS: L, P, H positive) an image axis mostly points to."""
    axis = int(np.argmax(np.abs(direction)))
    return ("LR", "PA", "HF")[axis][0 if direction[axis] > 0 else 1]


def secondary_capture(
    series: DicomSeries, voxels: np.ndarray, mask: np.ndarray, series_uid: str
) -> list[pydicom.Dataset]:
    """The Secondary Capture instances of one analysed series (module docstring)."""
    images = outlined(voxels, mask)
    frames = [series.frames[k].geometry for k in series.geometry.order]
    sources = [series.images[i].header for i, _ in series.source_frames()]
    out = []
    for k, (frame, source, image) in enumerate(zip(frames, sources, images, strict=True)):
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=source,
            pixel_array=image,
            photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
            bits_allocated=8,
            coordinate_system=hd.CoordinateSystemNames.PATIENT,
            series_instance_uid=series_uid,
            series_number=SERIES_NUMBER,
            sop_instance_uid=hd.UID(),
            instance_number=k + 1,
            manufacturer=MANUFACTURER,
            pixel_spacing=frame.pixel_spacing,
            patient_orientation=(_letter(frame.orientation[:3]), _letter(frame.orientation[3:])),
            transfer_syntax_uid=pydicom.uid.ExplicitVRLittleEndian,
        )
        sc.SeriesDescription = DESCRIPTION
        sc.BurnedInAnnotation = "YES"
        sc.BodyPartExamined = "BRAIN"  # an unpaired part: no Laterality (General Series, type 2C)
        out.append(sc)
    return out
