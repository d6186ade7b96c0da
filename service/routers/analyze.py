"""POST /analyze: classify, and segment only the slices the classifier calls positive."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from service import pipeline
from service.dependencies import LimitsDep, MaskFormatQuery, ModelsDep, UploadsDep, require_api_key
from service.errors import IMAGE_ERROR_RESPONSES
from service.schemas import Analysis, AnalysisBatch

router = APIRouter(tags=["inference"], dependencies=[Depends(require_api_key)])


@router.post("/analyze", response_model=Analysis | AnalysisBatch, responses=IMAGE_ERROR_RESPONSES)
async def analyze(
    models: ModelsDep, uploads: UploadsDep, limits: LimitsDep, mask_format: MaskFormatQuery = "rle"
) -> Analysis | AnalysisBatch:
    """Classification, plus segmentation (null when negative). Several slices: two batches at most."""

    def work() -> list[Analysis]:  # decoding and inference: one hand-off to a worker thread
        return pipeline.analyze(models, pipeline.decode_uploads(uploads.items, limits), mask_format)

    results = await run_in_threadpool(work)
    return AnalysisBatch(results=results) if uploads.batch else results[0]
