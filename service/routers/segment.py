"""POST /segment: tumour mask of one slice (``file``) or several (``files``, one batch)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from service import pipeline
from service.dependencies import LimitsDep, MaskFormatQuery, ModelsDep, UploadsDep, require_api_key
from service.errors import IMAGE_ERROR_RESPONSES
from service.schemas import Segmentation, SegmentationBatch

router = APIRouter(tags=["inference"], dependencies=[Depends(require_api_key)])


@router.post("/segment", response_model=Segmentation | SegmentationBatch, responses=IMAGE_ERROR_RESPONSES)
async def segment(
    models: ModelsDep, uploads: UploadsDep, limits: LimitsDep, mask_format: MaskFormatQuery = "rle"
) -> Segmentation | SegmentationBatch:
    """Tumour mask at the size of the uploaded image, with pixel count, fraction and bounding box."""

    def work() -> list[Segmentation]:  # decoding and inference: one hand-off to a worker thread
        return pipeline.segment(models, pipeline.decode_uploads(uploads.items, limits), mask_format)

    results = await run_in_threadpool(work)
    return SegmentationBatch(results=results) if uploads.batch else results[0]
