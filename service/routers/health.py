"""Open Inference Protocol health: GET /v2/health/live and /v2/health/ready (no API key)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from service.dependencies import LOAD_FAILED, ModelsDep
from service.schemas import Live, Ready

router = APIRouter(prefix="/v2/health", tags=["health"])


@router.get("/live", response_model=Live, responses={503: {"description": "The models could not be loaded"}})
async def live(request: Request) -> Live:
    """200 while the process serves HTTP, the models loading included; 503 once loading has failed."""
    if request.app.state.load_error is not None:
        raise HTTPException(status_code=503, detail=LOAD_FAILED)
    return Live()


@router.get("/ready", response_model=Ready, responses={503: {"description": "Models not loaded yet"}})
async def ready(models: ModelsDep) -> Ready:
    """200 once the model files are loaded and warmed up; 503 before (and during shut-down)."""
    return Ready()
