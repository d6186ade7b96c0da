"""Open Inference Protocol v2 (KServe / Triton HTTP): server and model metadata, model ready, infer.

- ``GET /v2``: server metadata (name, version, extensions);
- ``GET /v2/models/{name}[/versions/{version}]``: inputs and outputs (datatype, shape), version,
  threshold, the runtime and the devices it sees;
- ``GET /v2/models/{name}[/versions/{version}]/ready``: 200 when the model is loaded;
- ``POST /v2/models/{name}[/versions/{version}]/infer``: JSON tensors or the binary tensor data
  extension (tensors in :mod:`service.oip`).

``name`` is the model card's name (``lgg-classifier``, ``lgg-segmenter``), ``version`` the
content hash. Errors are the protocol's ``{"error": "..."}``: 400 bad request, 401 API key, 404
unknown model or version, 413 body too large, 503 not loaded or overloaded (``Retry-After``).
``/v2`` and ``.../ready`` need no API key; metadata and infer do (when ``MRI_API_KEY`` is set).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from service import oip
from service.batching import QueueFull
from service.dependencies import ModelsDep, SettingsDep, require_api_key
from service.errors import overloaded_headers
from service.inference import LoadedModels, ModelRunner
from service.middleware.observability import IMAGES_STATE_KEY
from service.routers.models import device_report

SERVER_NAME = "brain-mri-tumour"
EXTENSIONS = ["binary_tensor_data"]


class OIPRoute(APIRoute):
    """A route whose errors are answered in the protocol's form ``{"error": "..."}``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except oip.OIPError as exc:
                return _error(exc.message, exc.status_code, exc.headers)
            except HTTPException as exc:
                return _error(str(exc.detail), exc.status_code, exc.headers)
            except RequestValidationError as exc:
                return _error(f"invalid request: {exc.errors()[0].get('msg', '')}", 400)
            except QueueFull:
                return _error("overloaded: retry later", 503, overloaded_headers(request))

        return route


def _error(message: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


router = APIRouter(prefix="/v2", tags=["open inference protocol"], route_class=OIPRoute)
keyed = [Depends(require_api_key)]


def find_runner(models: LoadedModels, name: str, version: str | None = None) -> ModelRunner:
    """The runner serving model ``name`` (and ``version`` when given); 404 otherwise."""
    for runner in models.runners():
        if runner.name == name:
            if version is not None and version != runner.version:
                raise oip.OIPError(
                    f"model '{name}' has no version '{version}' (serving {runner.version})", 404
                )
            return runner
    names = [r.name for r in models.runners()]
    raise oip.OIPError(f"unknown model '{name}'; served: {names}", 404)


@router.get("")
async def server_metadata(request: Request) -> dict[str, Any]:
    """Server name, version and the protocol extensions it supports."""
    return {"name": SERVER_NAME, "version": request.app.version, "extensions": EXTENSIONS}


def _metadata(models: LoadedModels, runner: ModelRunner) -> dict[str, Any]:
    inputs, outputs = oip.signature(runner.role, runner.input_size)
    report = device_report(models)
    return {
        "name": runner.name,
        "versions": [runner.version],
        "platform": models.platform,
        "inputs": [t.metadata() for t in inputs],
        "outputs": [t.metadata() for t in outputs],
        "parameters": {"role": runner.role, "threshold": runner.threshold, "runtime": report["runtime"]},
        "devices": [d.model_dump() for d in report["devices"]],
        "inference_device": report["inference_device"],
    }


@router.get("/models/{name}", dependencies=keyed)
@router.get("/models/{name}/versions/{version}", dependencies=keyed)
async def model_metadata(models: ModelsDep, name: str, version: str | None = None) -> dict[str, Any]:
    """Inputs and outputs with datatype and shape (-1 = any batch), versions, devices."""
    return _metadata(models, find_runner(models, name, version))


@router.get("/models/{name}/ready")
@router.get("/models/{name}/versions/{version}/ready")
async def model_ready(models: ModelsDep, name: str, version: str | None = None) -> dict[str, Any]:
    """200 ``{"name", "ready": true}`` once the model is loaded; 503 before, 404 unknown model."""
    runner = find_runner(models, name, version)
    return {"name": runner.name, "ready": True}


@router.post("/models/{name}/infer", dependencies=keyed)
@router.post("/models/{name}/versions/{version}/infer", dependencies=keyed)
async def infer(
    request: Request, models: ModelsDep, settings: SettingsDep, name: str, version: str | None = None
) -> Response:
    """Run the model on the request's ``input`` tensor (through the cross-request batcher)."""
    runner = find_runner(models, name, version)
    body = await request.body()
    _, outputs = oip.signature(runner.role, runner.input_size)
    parsed = await run_in_threadpool(
        oip.parse_infer_request,
        body,
        request.headers.get(oip.HEADER_LENGTH),
        runner.input_size,
        outputs,
        settings.max_files_per_request,
    )
    setattr(request.state, IMAGES_STATE_KEY, len(parsed.batch))
    raw = await run_in_threadpool(runner.predict, parsed.batch)
    tensors = oip.output_tensors(runner.role, raw, runner.threshold)
    content, headers = await run_in_threadpool(
        oip.encode_infer_response, runner.name, runner.version, parsed, tensors, outputs
    )
    return Response(content=content, headers=headers)
