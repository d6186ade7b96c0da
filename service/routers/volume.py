"""POST /volume: one whole volume (NIfTI file, zip of a DICOM series, or the files of a series).

Answer: JSON :class:`service.volumes.schemas.VolumeAnswer` with the mask as a base64 ``.nii.gz``
on the input's grid (``mask_format=nifti``, the default for NIfTI) or one COCO RLE per slice
(``mask_format=rle``, the default for DICOM); or, with ``output=dicom-seg`` (DICOM input only), a
DICOM Segmentation (``application/dicom``) whose summary travels in ``X-Tumour-*`` headers.

The request's parameters are read here; the work (memory and time budgets, decoding, inference,
the answer) is :func:`service.volumes.request.answer_volume`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from contract.volume import POSTPROCESS_CHOICES, PostProcess
from service.dependencies import ModelsDep, SettingsDep, form_files, require_api_key
from service.errors import IMAGE_ERROR_RESPONSES
from service.middleware.observability import IMAGES_STATE_KEY
from service.volumes.answer import VolumeMaskFormat
from service.volumes.request import VolumeOutput, VolumeRequest, answer_volume
from service.volumes.schemas import VolumeAnswer

PATH = "/volume"

router = APIRouter(tags=["inference"], dependencies=[Depends(require_api_key)])

_RESPONSES = {
    **IMAGE_ERROR_RESPONSES,
    200: {
        "content": {"application/dicom": {}},
        "description": "JSON answer, or a DICOM SEG with output=dicom-seg",
    },
}


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
    output: Annotated[VolumeOutput, Query(description="dicom-seg: a DICOM SEG (DICOM input).")] = "json",
    postprocess: Annotated[
        PostProcess | None,
        Query(
            description=f"3-D post-processing {POSTPROCESS_CHOICES}; default: the setting, else the model card's."
        ),
    ] = None,
) -> Response:
    """Tumour probability of every slice, the tumour mask of the volume and its volume in mL."""
    named = form_files(file, files, one="a volume", several="a DICOM series")
    setattr(request.state, IMAGES_STATE_KEY, len(named))
    await run_in_threadpool(_to_disk, [f for _, f in named])
    uploads = [(f"{name} ({f.filename})" if f.filename else name, f.file) for name, f in named]
    asked = VolumeRequest(uploads, output, mask_format, postprocess)
    return await answer_volume(asked, models, settings, request.app.state.volume_budget)


def _to_disk(uploads: list[UploadFile]) -> None:
    """Small parts are kept in memory by the multipart parser: move them to their temporary file."""
    for upload in uploads:
        rollover = getattr(upload.file, "rollover", None)
        if rollover is not None:
            rollover()
