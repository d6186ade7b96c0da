"""A volume's prediction -> the JSON answer, the mask file (NIfTI) or the DICOM SEG."""

from __future__ import annotations

import base64
import gzip
from typing import Literal

import nibabel as nib
import numpy as np

from contract.volume import VolumePrediction, volume_sequences
from service.masks import rle_counts
from service.schemas import ModelRef, RleMask
from service.volumes.schemas import NiftiMask, RleVolumeMask, VolumeAnswer, VolumeModels, VolumeSlice
from service.volumes.volume import Volume

VolumeMaskFormat = Literal["nifti", "rle"]


def nifti_mask_bytes(volume: Volume, mask: np.ndarray) -> bytes:
    """The mask as ``.nii.gz`` bytes: uint8 0/1 on the input grid, with the input's affine (and, for
    NIfTI input, its header's qform/sform codes and units)."""
    data = np.asarray(mask, dtype=np.uint8)
    if volume.header is not None:
        header = volume.header.copy()
        header.set_data_shape(data.shape)
        header.set_data_dtype(np.uint8)
        header.set_slope_inter(1.0, 0.0)
        header["cal_min"], header["cal_max"] = 0, 1  # display range of a 0/1 mask, not the input's
        image_class = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
        image = image_class(data, volume.affine, header=header)
    else:
        image = nib.Nifti1Image(data, volume.affine)
        image.header.set_xyzt_units("mm")
    return gzip.compress(image.to_bytes(), compresslevel=6, mtime=0)


def build_answer(
    volume: Volume,
    prediction: VolumePrediction,
    mask_format: VolumeMaskFormat,
    thresholds: tuple[float, float],
    postprocess: str,
    models: tuple[ModelRef, ModelRef],
) -> VolumeAnswer:
    """The JSON answer (module docstring of :mod:`service.routers.volume`)."""
    frame = prediction.frame
    by_slice = np.moveaxis(prediction.mask, frame.slice_axis, 0)
    pixels = prediction.slice_pixels()
    voxels = int(pixels.sum())
    spacing = None
    if volume.spacing_mm is not None:
        spacing = [round(volume.spacing_mm[frame.slice_axis], 6)] + [
            round(s, 6) for axis, s in enumerate(volume.spacing_mm) if axis != frame.slice_axis
        ]
    encoded: NiftiMask | RleVolumeMask
    if mask_format == "nifti":
        encoded = NiftiMask(data=base64.b64encode(nifti_mask_bytes(volume, prediction.mask)).decode("ascii"))
    else:
        encoded = RleVolumeMask(slices=[RleMask(size=list(m.shape), counts=rle_counts(m)) for m in by_slice])
    voxel_ml = volume.voxel_ml
    return VolumeAnswer(
        shape=list(by_slice.shape),
        spacing_mm=spacing,
        sequences=volume_sequences(volume.data),
        per_slice=[
            VolumeSlice(index=i, tumour_probability=float(p), has_tumour=bool(h), tumour_pixels=int(n))
            for i, (p, h, n) in enumerate(
                zip(prediction.probabilities, prediction.has_tumour, pixels, strict=True)
            )
        ],
        tumour_slices=[int(i) for i in np.flatnonzero(pixels)],
        tumour_voxels=voxels,
        tumour_volume_ml=voxels * voxel_ml if voxel_ml is not None else None,
        classifier_threshold=thresholds[0],
        segmenter_threshold=thresholds[1],
        postprocess=postprocess,
        model=VolumeModels(classifier=models[0], segmenter=models[1]),
        mask=encoded,
    )
