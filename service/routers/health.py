"""Open Inference Protocol health: GET /v2/health/live and /v2/health/ready (no API key)."""

from __future__ import annotations

from fastapi import APIRouter

from service.dependencies import ModelsDep
from service.schemas import Live, Ready

router = APIRouter(prefix="/v2/health", tags=["health"])


@router.get("/live", response_model=Live)
async def live() -> Live:
    """200 while the process serves HTTP."""
    return Live()


@router.get("/ready", response_model=Ready, responses={503: {"description": "Models not loaded yet"}})
async def ready(models: ModelsDep) -> Ready:
    """200 once both models are loaded and warmed up; 503 before (and during shut-down)."""
    return Ready()
