"""The FastAPI app: ``create_app(settings)`` and the module-level ``app`` for uvicorn.

    uvicorn service.main:app --host 0.0.0.0 --port 8000

The lifespan loads both models of ``settings.models_dir`` once (in a worker thread), warms them
up and keeps them in ``app.state.models``; until then the inference endpoints and
``/v2/health/ready`` answer 503. A models folder that cannot be loaded stops the start-up.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service.errors import register_exception_handlers
from service.inference import load_models
from service.logs import configure_logging
from service.metrics import ServiceMetrics
from service.middleware import BodySizeLimitMiddleware, RequestObservabilityMiddleware
from service.routers import analyze, classify, health, metrics, models, segment
from service.settings import Settings

logger = logging.getLogger(__name__)

API_VERSION = "1.0.0"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Set up logging, load and warm up the models at start-up; drop them (not ready) at shut-down."""
    settings: Settings = app.state.settings
    service_metrics: ServiceMetrics = app.state.metrics
    configure_logging(settings.log_level)
    logger.info("loading models from %s", settings.models_dir)
    try:
        app.state.models = await run_in_threadpool(load_models, settings, service_metrics.observe_inference)
    except Exception:
        logger.exception("could not load the models from %s", settings.models_dir)
        raise
    service_metrics.models_ready.set(1)
    logger.info("ready")
    try:
        yield
    finally:
        service_metrics.models_ready.set(0)
        app.state.models = None


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: from the ``MRI_*`` environment)."""
    settings = settings or Settings()
    app = FastAPI(
        title="Brain MRI tumour detection",
        version=API_VERSION,
        description="Classify and segment FLAIR abnormalities (lower-grade glioma) in brain MRI slices.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = ServiceMetrics()
    app.state.models = None
    register_exception_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(RequestObservabilityMiddleware, metrics=app.state.metrics)  # outermost
    for router in (
        classify.router,
        segment.router,
        analyze.router,
        health.router,
        models.router,
        metrics.router,
    ):
        app.include_router(router)
    return app


app = create_app()
