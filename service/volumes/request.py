"""One ``POST /volume`` request, start to end, in one function: :func:`answer_volume`.

Order of work: the uploads' headers are read and checked (no voxel decoded); the memory the volume
needs is estimated from them and leased from the process's budget (413 over the per-request limit,
a wait or 503 when the budget is taken; the wait is not counted against the time budget); voxels
are decoded, inferred a batch of slices at a time and post-processed within the time budget (503
past it); the answer (the JSON stream or the DICOM SEG) is built. The lease has one owner at a
time: this function until the answer exists, then the answer, which gives it back once it is sent,
cut off by the client or failed (or, never sent, when it is garbage-collected). Blocking work runs
in the thread pool.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal

from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from contract.volume import (
    PostProcess,
    VolumePrediction,
    postprocess_of,
    postprocess_volume_mask,
    volume_sequences,
)
from imaging.dicom.errors import SegError
from imaging.dicom.seg import segmentation_bytes
from service import pipeline
from service.errors import InvalidImage
from service.inference import LoadedModels, ModelRunner
from service.schemas import ModelRef
from service.settings import Settings
from service.volumes.answer import VolumeMaskFormat, answer_chunks, build_summary
from service.volumes.budget import Deadline, Lease, MemoryBudget, volume_memory
from service.volumes.read import open_volume
from service.volumes.volume import PendingVolume, Volume, VolumeLimits

logger = logging.getLogger(__name__)

DICOM_SEG = "dicom-seg"
VolumeOutput = Literal["json", "dicom-seg"]


@dataclass(frozen=True)
class VolumeRequest:
    """What was asked: the uploads (``(label, file)``, labels name them in errors), the answer's
    ``output`` and ``mask_format`` (None: the input kind's default) and ``postprocess`` (None: the
    setting, else the model card's)."""

    uploads: list[tuple[str, BinaryIO]]
    output: VolumeOutput = "json"
    mask_format: VolumeMaskFormat | None = None
    postprocess: PostProcess | None = None


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


async def answer_volume(
    asked: VolumeRequest, models: LoadedModels, settings: Settings, budget: MemoryBudget
) -> Response:
    """The answer to ``asked`` (module docstring): the streamed JSON or the DICOM SEG, holding the
    memory lease until it is sent."""
    limits = volume_limits(settings)
    limits.check_files(len(asked.uploads), "the upload")
    deadline = Deadline(settings.volume_timeout_s)
    pending = await run_in_threadpool(open_volume, asked.uploads, limits, deadline.check)
    async with _closed_after(pending):
        if asked.output == DICOM_SEG and pending.kind != "dicom":
            raise InvalidImage(
                "output=dicom-seg needs a DICOM series; NIfTI input gets its mask as NIfTI or RLE"
            )
        method = postprocess_of(models.card, asked.postprocess or settings.volume_postprocess)
        async with _leased(budget, pending, asked.output, models, settings, deadline) as lease:
            loaded, prediction, sequences = await run_in_threadpool(
                _infer, pending, models, settings, method, deadline
            )
            classifier, segmenter = (
                models.runner("classifier", sequences),
                models.runner("segmenter", sequences),
            )
            if asked.output == DICOM_SEG:
                body, headers = await run_in_threadpool(_seg, loaded, prediction, _ref(segmenter), method)
                return _LeasedResponse(iter([body]), lease, "application/dicom", headers)
            refs = (_ref(classifier), _ref(segmenter))
            thresholds = (classifier.threshold, segmenter.threshold)
            summary = build_summary(loaded, prediction, thresholds, method, refs, sequences)
            mask_format = asked.mask_format or ("nifti" if loaded.kind == "nifti" else "rle")
            chunks = answer_chunks(summary, loaded, prediction, mask_format)
            return _LeasedResponse(chunks, lease, "application/json")


@contextlib.asynccontextmanager
async def _closed_after(pending: PendingVolume) -> AsyncIterator[None]:
    """Drop the upload's temporary files (a zip's members) once the voxels are read or on error."""
    try:
        yield
    finally:
        await run_in_threadpool(pending.close)


@contextlib.asynccontextmanager
async def _leased(
    budget: MemoryBudget,
    pending: PendingVolume,
    output: str,
    models: LoadedModels,
    settings: Settings,
    deadline: Deadline,
) -> AsyncIterator[Lease]:
    """The memory the volume needs, from the process's budget; given back on leaving unless an
    answer took it (:meth:`Lease.hand_to`)."""
    model_side = max(runner.input_size for runner in models.runners())
    need = volume_memory(pending, output, settings.volume_batch_size, model_side)
    asked = time.monotonic()
    lease = await budget.acquire(need, _describe(pending))
    waited = time.monotonic() - asked
    deadline.extend(waited)
    logger.info(
        "volume kind=%s shape=%s need_mib=%.0f waited_s=%.2f",
        pending.kind, "x".join(map(str, pending.shape)), need / 2**20, waited,
        extra={"volume_kind": pending.kind, "need_bytes": need, "waited_s": round(waited, 3)},
    )  # fmt: skip
    with lease.held():
        yield lease


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


def _seg(
    loaded: Volume, prediction: VolumePrediction, segmenter: ModelRef, method: str
) -> tuple[bytes, dict[str, str]]:
    """The DICOM SEG (:mod:`imaging.dicom.seg`) and the headers that carry its summary."""
    assert loaded.series is not None
    try:
        body = segmentation_bytes(loaded.series, prediction.mask, segmenter.name, segmenter.version)
    except SegError as exc:
        raise InvalidImage(f"{exc}; ask for the JSON answer instead") from None
    voxels = int(prediction.mask.sum())
    headers = {
        "Content-Disposition": 'attachment; filename="segmentation.dcm"',
        "Content-Length": str(len(body)),
        "X-Tumour-Voxels": str(voxels),
        "X-Tumour-Slices": str(int((prediction.slice_pixels() > 0).sum())),
        "X-Postprocess": method,
        "X-Skipped-Files": str(loaded.skipped_files),
    }
    if loaded.voxel_ml is not None:
        headers["X-Tumour-Volume-Ml"] = f"{voxels * loaded.voxel_ml:.6g}"
    if loaded.warnings:
        headers["X-Volume-Warnings"] = "; ".join(loaded.warnings)
    return body, headers


def _ref(runner: ModelRunner) -> ModelRef:
    return ModelRef(name=runner.name, version=runner.version)


class _LeasedResponse(StreamingResponse):
    """The answer's body, streamed, holding the memory lease: given back when the response ends, sent,
    cut off by the client or failed (and, should it never be sent, when it is garbage-collected)."""

    def __init__(
        self, chunks: Iterator[bytes], lease: Lease, media_type: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(chunks, media_type=media_type, headers=headers)
        self._chunks = chunks
        self._lease = lease
        lease.hand_to(self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                with contextlib.suppress(ValueError):  # still running in a worker thread: it ends by itself
                    close()  # drops the mask now, not at the next garbage collection
            self._lease.release()
