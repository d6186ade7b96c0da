"""Error types of the service and the handlers that turn them into JSON ``{"detail": ...}`` answers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from imaging.dicom.errors import DicomError, UnsupportedDicom
from service.batching import QueueFull

logger = logging.getLogger(__name__)


class ImageError(Exception):
    """An upload that cannot be served; ``status_code`` is the HTTP answer, ``detail`` the reason."""

    status_code = 422

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def for_upload(self, label: str) -> ImageError:
        """The same error with the upload it concerns (e.g. ``files[2] (a.png)``) in front."""
        return type(self)(f"{label}: {self.detail}")


class UnsupportedImage(ImageError):
    """Bytes that are not an image in a supported format (PNG, JPEG, TIFF, DICOM): HTTP 415."""

    status_code = 415


class RequestTooLarge(ImageError):
    """Slices that together exceed the pixels one request may decode: HTTP 413."""

    status_code = 413


class InvalidImage(ImageError):
    """A supported format whose content cannot be used (size, layout, broken pixels): HTTP 422."""

    status_code = 422


class Overloaded(ImageError):
    """Work the service cannot take on now (the volume memory budget is taken and its queue full or
    waited out, or a volume ran past its time budget): HTTP 503 with ``Retry-After``."""

    status_code = 503


def dicom_refusal(exc: DicomError) -> ImageError:
    """A refusal of the DICOM layer (:mod:`imaging.dicom`) as the service's answer: 415 for pixel
    data no installed decoder reads, else 422; the same message."""
    return UnsupportedImage(str(exc)) if isinstance(exc, UnsupportedDicom) else InvalidImage(str(exc))


async def _image_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ImageError)
    headers = overloaded_headers(request) if exc.status_code == 503 else None
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def overloaded_headers(request: Request) -> dict[str, str]:
    """``Retry-After`` (MRI_RETRY_AFTER_S) of every 503 answered for load (a model's queue, the
    volume memory budget, a volume's time budget)."""
    return {"Retry-After": str(request.app.state.settings.retry_after_s)}


async def _queue_full(request: Request, exc: Exception) -> JSONResponse:
    detail = "overloaded: too many requests wait for the model; retry later"
    return JSONResponse({"detail": detail}, status_code=503, headers=overloaded_headers(request))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "unhandled error on %s %s",
        request.method,
        request.url.path,
        exc_info=exc,
        extra={"method": request.method, "path": request.url.path},
    )
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def register_exception_handlers(app: FastAPI) -> None:
    """Answer image errors with their code and anything unexpected with a JSON 500 (no traceback)."""
    app.add_exception_handler(ImageError, _image_error)
    app.add_exception_handler(QueueFull, _queue_full)
    app.add_exception_handler(Exception, _unexpected_error)


#: OpenAPI documentation of the error answers of the image endpoints.
IMAGE_ERROR_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or wrong X-API-Key (when MRI_API_KEY is set)"},
    408: {"description": "Request body not received within MRI_BODY_TIMEOUT_S"},
    413: {"description": "Request body over MRI_MAX_UPLOAD_BYTES"},
    415: {"description": "Not a supported image (PNG, JPEG, TIFF, DICOM) or DICOM transfer syntax"},
    422: {"description": "Missing field, too many files, image too small/large or undecodable, non-MR DICOM"},
    431: {"description": "Request headers over MRI_MAX_HEADER_BYTES"},
    503: {"description": "Models not loaded yet, or overloaded (too many requests queued; Retry-After)"},
}
