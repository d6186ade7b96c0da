"""A volume's prediction -> the JSON answer (produced piece by piece), the mask file (NIfTI) or the DICOM SEG.

The answer's body is a stream of bytes: the summary (:class:`VolumeSummary`, through pydantic),
then the mask, one slice's RLE at a time or the ``.nii.gz`` compressed and base64-encoded as it is
written, so no whole-volume copy of the mask (nor of its encoding) is ever held beside the mask.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from typing import Literal

import nibabel as nib
import numpy as np

from contract.volume import VolumePrediction
from service.masks import rle_counts
from service.schemas import ModelRef
from service.volumes.schemas import VolumeModels, VolumeSlice, VolumeSummary
from service.volumes.volume import Volume

VolumeMaskFormat = Literal["nifti", "rle"]
_GZIP_LEVEL = 6


def build_summary(
    volume: Volume,
    prediction: VolumePrediction,
    thresholds: tuple[float, float],
    postprocess: str,
    models: tuple[ModelRef, ModelRef],
    sequences: str,
) -> VolumeSummary:
    """Everything of the answer but its mask (module docstring of :mod:`service.routers.volume`)."""
    frame = prediction.frame
    pixels = prediction.slice_pixels()
    voxels = int(pixels.sum())
    spacing = None
    if volume.spacing_mm is not None:
        spacing = [round(volume.spacing_mm[frame.slice_axis], 6)] + [
            round(s, 6) for axis, s in enumerate(volume.spacing_mm) if axis != frame.slice_axis
        ]
    voxel_ml = volume.voxel_ml
    shape = [frame.shape[frame.slice_axis]] + [
        n for axis, n in enumerate(frame.shape) if axis != frame.slice_axis
    ]
    return VolumeSummary(
        shape=shape,
        spacing_mm=spacing,
        sequences=sequences,
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
        skipped_files=volume.skipped_files,
        warnings=volume.warnings,
    )


def answer_chunks(
    summary: VolumeSummary, volume: Volume, prediction: VolumePrediction, mask_format: VolumeMaskFormat
) -> Iterator[bytes]:
    """The JSON answer (:class:`service.volumes.schemas.VolumeAnswer`) as a stream of bytes."""
    head = summary.model_dump_json().encode()
    yield head[:-1] + b',"mask":'
    if mask_format == "nifti":
        yield b'{"format":"nifti","data":"'
        yield from _base64(nifti_mask_chunks(volume, prediction.mask))
        yield b'"}}'
        return
    yield b'{"format":"rle","slices":['
    axis = prediction.frame.slice_axis
    for k in range(prediction.frame.n_slices):
        plane = np.take(prediction.mask, k, axis=axis)
        rle = {"format": "rle", "size": list(plane.shape), "counts": rle_counts(plane)}
        yield (b"," if k else b"") + json.dumps(rle, separators=(",", ":")).encode()
    yield b"]}}"


def nifti_mask_chunks(volume: Volume, mask: np.ndarray) -> Iterator[bytes]:
    """The mask as a gzipped NIfTI, in pieces: uint8 0/1 on the input grid. NIfTI input: the input's
    header (its sform/qform, codes and units as the file gave them, a voxel size of 0 included);
    DICOM input: the series' affine as scanner coordinates (mm, or no unit without a voxel size)."""
    if volume.header is not None:
        header = volume.header.copy()
    else:
        header = nib.Nifti1Header()
        header.set_qform(volume.affine, code=1)
        header.set_sform(volume.affine, code=1)
        header.set_xyzt_units("mm" if volume.spacing_mm is not None else "unknown")
    header.set_data_shape(mask.shape)
    header.set_data_dtype(np.uint8)
    header["scl_slope"], header["scl_inter"] = 1.0, 0.0
    header["cal_min"], header["cal_max"] = 0, 1  # display range of a 0/1 mask, not the input's
    header_size = 540 if isinstance(header, nib.Nifti2Header) else 348
    header["vox_offset"] = header_size + 4
    compressor = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, 31)
    yield compressor.compress(header.binaryblock + b"\x00\x00\x00\x00")
    for z in range(mask.shape[2]):  # NIfTI stores voxels in Fortran order: x fastest, z slowest
        yield compressor.compress(mask[:, :, z].astype(np.uint8).tobytes(order="F"))
    yield compressor.flush()


def _base64(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Base64 of the concatenated ``chunks``, emitted as it goes (3-byte groups)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        cut = len(pending) - len(pending) % 3
        if cut:
            yield base64.b64encode(pending[:cut])
            pending = pending[cut:]
    if pending:
        yield base64.b64encode(pending)
