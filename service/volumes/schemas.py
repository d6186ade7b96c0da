"""Pydantic models of the ``POST /volume`` answer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from service.schemas import ModelRef, RleMask, Sequences


class VolumeSlice(BaseModel):
    """One slice along the input's slice axis (index = position along that axis, input order)."""

    index: int
    tumour_probability: float = Field(description="Classifier probability that the slice shows tumour.")
    has_tumour: bool = Field(description="tumour_probability >= the classifier threshold.")
    tumour_pixels: int = Field(description="Tumour pixels of the slice in the returned mask.")


class NiftiMask(BaseModel):
    """Base64 of a gzipped NIfTI (.nii.gz), uint8 0/1, on the input's voxel grid with its affine."""

    format: Literal["nifti"] = "nifti"
    data: str


class RleVolumeMask(BaseModel):
    """One COCO uncompressed RLE per slice, in input order; each slice is the input grid at that
    index of the slice axis, the other two axes in input order as [height, width]."""

    format: Literal["rle"] = "rle"
    slices: list[RleMask]


VolumeMask = Annotated[NiftiMask | RleVolumeMask, Field(discriminator="format")]


class VolumeModels(BaseModel):
    classifier: ModelRef
    segmenter: ModelRef


class VolumeSummary(BaseModel):
    """Answer for one volume, without its mask."""

    shape: list[int] = Field(description="[slices, height, width] of the input grid, slice axis first.")
    spacing_mm: list[float] | None = Field(
        description="Voxel size along [slices, height, width]; null when unknown."
    )
    sequences: Sequences
    per_slice: list[VolumeSlice]
    tumour_slices: list[int] = Field(description="Indices of the slices with tumour pixels in the mask.")
    tumour_voxels: int
    tumour_volume_ml: float | None = Field(
        description="tumour_voxels x voxel volume; null when the voxel size is unknown."
    )
    classifier_threshold: float
    segmenter_threshold: float
    postprocess: str = Field(
        description="3-D post-processing applied to the mask (none, largest, drop_small)."
    )
    model: VolumeModels
    skipped_files: int = Field(
        0, description="Files of the upload that were not DICOM images (README, Thumbs.db, DICOMDIR, ...)."
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What the answer could not take from the file (e.g. no voxel size: spacing_mm and "
        "tumour_volume_ml null), in plain words.",
    )


class VolumeAnswer(VolumeSummary):
    """Answer for one volume."""

    mask: VolumeMask
