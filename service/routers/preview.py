"""POST /preview: the uploaded slice as the service decoded it, as a PNG a browser can show.

Browsers cannot display TIFF or DICOM, and 16-bit or windowed images look different once
decoded; the page (``GET /``) shows this PNG under the mask. It needs no model, so it also
answers while the models load.
"""

from __future__ import annotations

from typing import Annotated

import cv2
import numpy as np
from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service import pipeline
from service.dependencies import LimitsDep, read_files, require_api_key
from service.errors import IMAGE_ERROR_RESPONSES

router = APIRouter(tags=["page"], dependencies=[Depends(require_api_key)])

_RESPONSES = {
    200: {"content": {"image/png": {}}, "description": "8-bit RGB PNG of the decoded slice"},
    **{code: info for code, info in IMAGE_ERROR_RESPONSES.items() if code != 503},
}


def preview_png(pixels: np.ndarray) -> bytes:
    """``(H, W, 3)`` uint8 (pre-contrast, FLAIR, post-contrast as R, G, B) -> PNG bytes."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV encodes any (H, W, 3) uint8 array
        raise RuntimeError("PNG encoding of the preview failed")
    return encoded.tobytes()


@router.post("/preview", response_class=Response, responses=_RESPONSES)
async def preview(
    request: Request,
    limits: LimitsDep,
    file: Annotated[UploadFile, File(description="One slice (PNG, JPEG, TIFF or DICOM).")],
) -> Response:
    """The slice at its uploaded size as the models read it: the three channels (pre-contrast,
    FLAIR, post-contrast) as red, green and blue, a grey upload as grey, 16-bit and DICOM data
    after the service's windowing. Same input rules and errors as ``/analyze``."""
    uploads = await read_files(request, [("file", file)])
    slices = await run_in_threadpool(pipeline.decode_uploads, uploads, limits)
    png = await run_in_threadpool(preview_png, slices[0].pixels)
    return Response(content=png, media_type="image/png")
