"""GET /metrics: Prometheus exposition of the app's registry (no API key, like health)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["monitoring"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Request counts, latency histograms, errors per endpoint, inference batch sizes and latency."""
    body, content_type = request.app.state.metrics.render()
    return Response(content=body, media_type=content_type)
