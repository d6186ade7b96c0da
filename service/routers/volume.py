"""POST /volume: one whole volume (NIfTI file, zip of a DICOM series, or the files of a series).

Answer: JSON :class:`service.volumes.schemas.VolumeAnswer` with the mask as a base64 ``.nii.gz``
on the input's grid (``mask_format=nifti``, the default for NIfTI) or one COCO RLE per slice
(``mask_format=rle``, the default for DICOM); or, with ``output=dicom-seg`` (DICOM input only), a
DICOM Segmentation (``application/dicom``) whose summary travels in ``X-Tumour-*`` headers.

Order of work: the uploads go to disk, their headers are read and checked (no voxel decoded), the
memory the volume needs is estimated from them and leased from the process's budget (413 over the
per-request limit, a wait or 503 when the budget is taken), then voxels are decoded, inferred a
batch of slices at a time and post-processed within the time budget (503 past it), and the answer
is streamed; the lease ends with it (:mod:`service.volumes.budget`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Generator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from contract.volume import (
    POSTPROCESS_CHOICES,
    PostProcess,
    VolumePrediction,
    postprocess_of,
    postprocess_volume_mask,
    volume_sequences,
)
from service import pipeline
from service.dependencies import ModelsDep, SettingsDep, form_files, require_api_key
from service.errors import IMAGE_ERROR_RESPONSES, InvalidImage
from service.inference import LoadedModels, ModelRunner
from service.middleware.observability import IMAGES_STATE_KEY
from service.schemas import ModelRef
from service.settings import Settings
from service.volumes import PendingVolume, Volume, VolumeLimits, open_volume
from service.volumes.answer import VolumeMaskFormat, answer_chunks, build_summary
from service.volumes.budget import Deadline, Lease, MemoryBudget, volume_memory
from service.volumes.schemas import VolumeAnswer
from service.volumes.seg import segmentation_bytes

logger = logging.getLogger(__name__)

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


def memory_budget(settings: Settings) -> MemoryBudget:
    """The process's volume memory budget (one per app: ``app.state.volume_budget``)."""
    return MemoryBudget(
        total=settings.volume_memory_budget_bytes,
        per_request=settings.max_volume_memory_bytes,
        max_waiting=settings.max_volume_waiting,
        wait_s=settings.volume_wait_s,
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
        Query(description=f"3-D post-processing {POSTPROCESS_CHOICES}; default: the setting, else the model card's."),
    ] = None,
) -> Response:
    """Tumour probability of every slice, the tumour mask of the volume and its volume in mL."""
    named = form_files(file, files, one="a volume", several="a DICOM series")
    limits = volume_limits(settings)
    limits.check_files(len(named), "the upload")
    setattr(request.state, IMAGES_STATE_KEY, len(named))
    uploads = [(f"{name} ({f.filename})" if f.filename else name, f.file) for name, f in named]
    await run_in_threadpool(_to_disk, [f for _, f in named])
    deadline = Deadline(settings.volume_timeout_s)
    pending = await run_in_threadpool(open_volume, uploads, limits, deadline.check)
    method = postprocess_of(models.card, postprocess or settings.volume_postprocess)
    try:
        if output == DICOM_SEG and pending.kind != "dicom":
            raise InvalidImage("output=dicom-seg needs a DICOM series; NIfTI input gets its mask as NIfTI or RLE")
        lease = await _lease(request, pending, output, models, settings, deadline)
        try:
            loaded, prediction, sequences = await run_in_threadpool(
                _infer, pending, models, settings, method, deadline
            )
        except BaseException:
            lease.release()
            raise
    finally:
        await run_in_threadpool(pending.close)
    classifier, segmenter = models.runner("classifier", sequences), models.runner("segmenter", sequences)
    refs = (_ref(classifier), _ref(segmenter))
    if output == DICOM_SEG:
        try:
            return await run_in_threadpool(_seg_response, loaded, prediction, refs[1], method)
        finally:
            lease.release()
    summary = build_summary(loaded, prediction, (classifier.threshold, segmenter.threshold), method, refs, sequences)
    default_format: VolumeMaskFormat = "nifti" if loaded.kind == "nifti" else "rle"
    return _LeasedAnswer(answer_chunks(summary, loaded, prediction, mask_format or default_format), lease)


async def _lease(
    request: Request,
    pending: PendingVolume,
    output: str,
    models: LoadedModels,
    settings: Settings,
    deadline: Deadline,
) -> Lease:
    """The memory the volume needs, from the process's budget (the wait is not counted as work)."""
    model_side = max(runner.input_size for runner in models.runners())
    need = volume_memory(pending, output, settings.volume_batch_size, model_side)
    asked = time.monotonic()
    lease = await request.app.state.volume_budget.acquire(need, _describe(pending))
    waited = time.monotonic() - asked
    deadline.extend(waited)
    logger.info(
        "volume kind=%s shape=%s need_mib=%.0f waited_s=%.2f",
        pending.kind, "x".join(map(str, pending.shape)), need / 2**20, waited,
        extra={"volume_kind": pending.kind, "need_bytes": need, "waited_s": round(waited, 3)},
    )
    return lease


def _to_disk(uploads: list[UploadFile]) -> None:
    """Small parts are kept in memory by the multipart parser: move them to their temporary file."""
    for upload in uploads:
        rollover = getattr(upload.file, "rollover", None)
        if rollover is not None:
            rollover()


def _describe(pending: PendingVolume) -> str:
    sequences = " x 3 sequences" if pending.channels == 3 else ""
    shape = " x ".join(map(str, pending.shape))
    return f"this volume ({shape} voxels{sequences}, {pending.itemsize} bytes each)"


def _infer(
    pending: PendingVolume, models: LoadedModels, settings: Settings, method: str, deadline: Deadline
) -> tuple[Volume, VolumePrediction, str]:
    """Decode, infer (no post-processing yet), drop the voxels, post-process: within the time budget."""
    loaded = pending.load(deadline.check)
    assert loaded.data is not None
    sequences = volume_sequences(loaded.data)
    prediction = pipeline.predict_volume(
        models,
        loaded.data,
        loaded.affine,
        settings.volume_batch_size,
        "none",
        progress=lambda done, total: deadline.check(),
    )
    loaded.data = None  # the voxels are not needed any more: free them before post-processing
    deadline.check()
    postprocess_volume_mask(prediction.mask, method, in_place=True)
    return loaded, prediction, sequences


class _LeasedAnswer(StreamingResponse):
    """The JSON answer, streamed; the memory lease ends with the response, sent, cut off by the
    client or failed (and, should the response never be sent, when it is garbage-collected)."""

    def __init__(self, chunks: Generator[bytes, None, None], lease: Lease) -> None:
        super().__init__(chunks, media_type="application/json")
        self._chunks = chunks
        self._lease = lease
        lease.release_with(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with contextlib.suppress(ValueError):  # still running in a worker thread: it ends by itself
                self._chunks.close()  # drops the mask now, not at the next garbage collection
            self._lease.release()


def _ref(runner: ModelRunner) -> ModelRef:
    return ModelRef(name=runner.name, version=runner.version)


def _seg_response(loaded: Volume, prediction: VolumePrediction, segmenter: ModelRef, method: str) -> Response:
    assert loaded.datasets is not None
    step = loaded.spacing_mm[0] if loaded.spacing_mm is not None else None
    body = segmentation_bytes(
        loaded.datasets, prediction.mask, segmenter.name, segmenter.version, loaded.frame_order, step
    )
    voxels = int(prediction.mask.sum())
    headers = {
        "Content-Disposition": 'attachment; filename="segmentation.dcm"',
        "X-Tumour-Voxels": str(voxels),
        "X-Tumour-Slices": str(int((prediction.slice_pixels() > 0).sum())),
        "X-Postprocess": method,
        "X-Skipped-Files": str(loaded.skipped_files),
    }
    if loaded.voxel_ml is not None:
        headers["X-Tumour-Volume-Ml"] = f"{voxels * loaded.voxel_ml:.6g}"
    if loaded.warnings:
        headers["X-Volume-Warnings"] = "; ".join(loaded.warnings)
    return Response(content=body, media_type="application/dicom", headers=headers)
