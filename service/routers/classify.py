"""POST /classify: tumour probability of one slice (``file``) or several (``files``, one batch)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from service import pipeline
from service.dependencies import LimitsDep, ModelsDep, UploadsDep, require_api_key
from service.errors import IMAGE_ERROR_RESPONSES
from service.schemas import Classification, ClassificationBatch

router = APIRouter(tags=["inference"], dependencies=[Depends(require_api_key)])


@router.post(
    "/classify", response_model=Classification | ClassificationBatch, responses=IMAGE_ERROR_RESPONSES
)
async def classify(
    models: ModelsDep, uploads: UploadsDep, limits: LimitsDep
) -> Classification | ClassificationBatch:
    """Does the slice show a tumour? ``has_tumour`` = ``tumour_probability >= threshold``."""

    def work() -> list[Classification]:  # decoding and inference: one hand-off to a worker thread
        return pipeline.classify(models, pipeline.decode_uploads(uploads.items, limits))

    results = await run_in_threadpool(work)
    return ClassificationBatch(results=results) if uploads.batch else results[0]
