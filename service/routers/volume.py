"""POST /volume: one whole volume (NIfTI file, zip of a DICOM series, or the files of a series).

Answer: JSON :class:`service.volumes.schemas.VolumeAnswer` with the mask as a base64 ``.nii.gz``
on the input's grid (``mask_format=nifti``, the default for NIfTI) or one COCO RLE per slice
(``mask_format=rle``, the default for DICOM); or, with ``output=dicom-seg`` (DICOM input only), a
DICOM Segmentation (``application/dicom``) whose summary travels in ``X-Tumour-*`` headers.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from contract.volume import POSTPROCESS_CHOICES, PostProcess, VolumePrediction
from service import pipeline
from service.dependencies import ModelsDep, SettingsDep, form_files, read_files, require_api_key
from service.errors import IMAGE_ERROR_RESPONSES, InvalidImage
from service.inference import LoadedModels
from service.schemas import ModelRef
from service.settings import Settings
from service.volumes import Volume, VolumeLimits, read_volume
from service.volumes.answer import VolumeMaskFormat, build_answer
from service.volumes.schemas import VolumeAnswer
from service.volumes.seg import segmentation_bytes

PATH = "/volume"
DICOM_SEG = "dicom-seg"

router = APIRouter(tags=["inference"], dependencies=[Depends(require_api_key)])

_RESPONSES = {
    **IMAGE_ERROR_RESPONSES,
    200: {
        "content": {"application/dicom": {}},
        "description": "JSON answer, or a DICOM SEG with output=dicom-seg",
    },
}


def volume_limits(settings: Settings) -> VolumeLimits:
    return VolumeLimits(
        max_slices=settings.max_volume_slices,
        max_bytes=settings.max_volume_bytes,
        min_side=settings.min_image_side,
        max_side=settings.max_image_side,
    )


@router.post(PATH, response_model=VolumeAnswer, responses=_RESPONSES)
async def volume(
    request: Request,
    models: ModelsDep,
    settings: SettingsDep,
    file: Annotated[
        UploadFile | None,
        File(description="A NIfTI file (.nii, .nii.gz), a .zip of one DICOM series, or one DICOM file."),
    ] = None,
    files: Annotated[list[UploadFile] | None, File(description="The DICOM files of one series.")] = None,
    mask_format: Annotated[
        VolumeMaskFormat | None,
        Query(description="nifti (default for NIfTI input) or rle (default for DICOM)."),
    ] = None,
    output: Annotated[
        Literal["json", "dicom-seg"], Query(description="dicom-seg: a DICOM SEG (DICOM input).")
    ] = "json",
    postprocess: Annotated[
        PostProcess | None,
        Query(description=f"3-D post-processing {POSTPROCESS_CHOICES}; default: the setting."),
    ] = None,
) -> VolumeAnswer | Response:
    """Tumour probability of every slice, the tumour mask of the volume and its volume in mL."""
    named = form_files(file, files, one="a volume", several="a DICOM series")
    if len(named) > settings.max_volume_slices:
        raise InvalidImage(f"{len(named)} files; the limit is {settings.max_volume_slices} slices per volume")
    uploads = [(upload.label, upload.data) for upload in await read_files(request, named)]
    method = postprocess or settings.volume_postprocess
    loaded = await run_in_threadpool(read_volume, uploads, volume_limits(settings))
    if output == DICOM_SEG and loaded.kind != "dicom":
        raise InvalidImage("output=dicom-seg needs a DICOM series; NIfTI input gets its mask as NIfTI or RLE")
    prediction = await run_in_threadpool(_predict, models, loaded, settings, method)
    refs = (_ref(models, "classifier"), _ref(models, "segmenter"))
    if output == DICOM_SEG:
        return await run_in_threadpool(_seg_response, loaded, prediction, refs[1], settings, method)
    default_format: VolumeMaskFormat = "nifti" if loaded.kind == "nifti" else "rle"
    thresholds = (models.classifier.threshold, models.segmenter.threshold)
    return await run_in_threadpool(
        build_answer, loaded, prediction, mask_format or default_format, thresholds, method, refs
    )


def _predict(models: LoadedModels, loaded: Volume, settings: Settings, method: str) -> VolumePrediction:
    return pipeline.predict_volume(
        models, loaded.data, loaded.affine, settings.volume_batch_size, method, settings.volume_gate
    )


def _ref(models: LoadedModels, role: str) -> ModelRef:
    runner = getattr(models, role)
    return ModelRef(name=runner.name, version=runner.version)


def _seg_response(
    loaded: Volume, prediction: VolumePrediction, segmenter: ModelRef, settings: Settings, method: str
) -> Response:
    assert loaded.datasets is not None
    body = segmentation_bytes(loaded.datasets, prediction.mask, segmenter.name, segmenter.version)
    voxels = int(prediction.mask.sum())
    headers = {
        "Content-Disposition": 'attachment; filename="segmentation.dcm"',
        "X-Tumour-Voxels": str(voxels),
        "X-Tumour-Slices": str(int((prediction.slice_pixels() > 0).sum())),
        "X-Postprocess": method,
    }
    if loaded.voxel_ml is not None:
        headers["X-Tumour-Volume-Ml"] = f"{voxels * loaded.voxel_ml:.6g}"
    return Response(content=body, media_type="application/dicom", headers=headers)
