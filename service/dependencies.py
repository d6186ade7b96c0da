"""Typed FastAPI dependencies: settings, loaded models, API key, image limits and the uploads.

Every dependency is ``async def``: none blocks, and FastAPI runs a plain ``def`` dependency in a
worker thread, a hand-off that costs more than the work (docs/benchmarks.md, the request profile).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, File, HTTPException, Query, Request, Security, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader

from service.images import ImageLimits
from service.inference import LoadedModels
from service.middleware.observability import IMAGES_STATE_KEY
from service.pipeline import MaskFormat, Upload
from service.settings import Settings

API_KEY_HEADER = "X-API-Key"
_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="Required when the service runs with MRI_API_KEY."
)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


LOAD_FAILED = "the models could not be loaded (see the service log)"


async def get_models(request: Request) -> LoadedModels:
    """The loaded models; 503 while they are not loaded (start-up, failed start-up, shut-down)."""
    models = request.app.state.models
    if models is None:
        failed = request.app.state.load_error is not None
        raise HTTPException(status_code=503, detail=LOAD_FAILED if failed else "models are not loaded yet")
    return models


ModelsDep = Annotated[LoadedModels, Depends(get_models)]


async def get_limits(settings: SettingsDep) -> ImageLimits:
    return ImageLimits.from_settings(settings)


LimitsDep = Annotated[ImageLimits, Depends(get_limits)]


async def require_api_key(
    settings: SettingsDep, key: Annotated[str | None, Security(_api_key_header)]
) -> None:
    """401 unless the request's X-API-Key equals MRI_API_KEY (no check when that is unset)."""
    if settings.api_key is None:
        return
    expected = settings.api_key.get_secret_value().encode()
    if key is None or not secrets.compare_digest(key.encode(), expected):
        raise HTTPException(
            status_code=401,
            detail=f"missing or wrong {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": "APIKey"},
        )


@dataclass(frozen=True)
class Uploads:
    """The slices of a request, in order; ``batch`` = they came as field ``files``."""

    items: list[Upload]
    batch: bool


async def read_uploads(
    request: Request,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File(description="One slice (PNG, JPEG, TIFF or DICOM).")] = None,
    files: Annotated[
        list[UploadFile] | None, File(description="Several slices, answered as `results` in the same order.")
    ] = None,
) -> Uploads:
    """Exactly one of the form fields ``file`` / ``files`` (else 422), at most MRI_MAX_FILES_PER_REQUEST."""
    named = form_files(file, files, one="one slice", several="several")
    if len(named) > settings.max_files_per_request:
        raise form_error("files", f"{len(named)} files; at most {settings.max_files_per_request} per request")
    return Uploads(items=await read_files(request, named), batch=file is None)


def form_files(
    file: UploadFile | None, files: list[UploadFile] | None, one: str, several: str
) -> list[tuple[str, UploadFile]]:
    """The files of a request's form fields ``file`` (``one``) or ``files`` (``several``), named as
    errors name them: ``file``, or ``files[0]``, ``files[1]``, ... Exactly one field, else 422."""
    if (file is None) == (not files):
        raise form_error("file", f"send exactly one of the form fields 'file' ({one}) or 'files' ({several})")
    return [("file", file)] if file is not None else [(f"files[{i}]", f) for i, f in enumerate(files or [])]


async def read_files(request: Request, named: list[tuple[str, UploadFile]]) -> list[Upload]:
    """Read ``(name, file)`` pairs into :class:`Upload` (label ``name (filename)``), in order; the
    count goes to the request's access-log line."""
    setattr(request.state, IMAGES_STATE_KEY, len(named))
    return [
        Upload(
            label=f"{name} ({f.filename})" if f.filename else name,
            data=await f.read(),
            content_type=f.content_type,
        )
        for name, f in named
    ]


def form_error(field: str, message: str) -> RequestValidationError:
    """A 422 in FastAPI's usual shape: ``{"detail": [{"loc": ["body", field], "msg": ...}]}``."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": message, "input": None}]
    )


UploadsDep = Annotated[Uploads, Depends(read_uploads)]
MaskFormatQuery = Annotated[
    MaskFormat, Query(description="Mask encoding: COCO uncompressed RLE (`rle`) or base64 PNG (`png`).")
]
