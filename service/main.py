"""The FastAPI app: ``create_app(settings)`` and the module-level ``app`` for uvicorn.

    uvicorn service.main:app --host 0.0.0.0 --port 8000

The lifespan starts loading the model files of ``settings.models_dir`` in the background (a worker
thread) and lets the server answer at once: ``/v2/health/live`` is 200 while the models load and
``/v2/health/ready`` and the inference endpoints are 503 until they are loaded, warmed up and kept
in ``app.state.models``. When the models cannot be loaded the error is logged and ``live`` turns
503 as well, so that an orchestrator restarts the container rather than waiting for it; with
``MRI_EXIT_ON_LOAD_FAILURE`` the process exits with status 3 instead (restart policies act on exits).
Every request carries an ``X-Request-ID`` (the caller's, else a new one), echoed in the answer and
written in each log line of the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

import anyio.to_thread
import cv2
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from service.errors import register_exception_handlers
from service.inference import load_models
from service.logs import REQUEST_ID_HEADER, configure_logging, valid_request_id
from service.metrics import ServiceMetrics
from service.middleware import (
    BodySizeLimitMiddleware,
    BodyTimeoutMiddleware,
    ContentSecurityPolicyMiddleware,
    HeaderLimitMiddleware,
    RequestObservabilityMiddleware,
)
from service.routers import analyze, classify, health, metrics, models, oip, preview, segment, volume, web
from service.settings import Settings
from service.volumes.request import memory_budget

logger = logging.getLogger(__name__)

API_VERSION = "1.0.0"
#: Exit status when the models cannot be loaded and MRI_EXIT_ON_LOAD_FAILURE is set (uvicorn's own
#: status for a failed start-up).
LOAD_FAILURE_EXIT_CODE = 3


async def _load_models(app: FastAPI) -> None:
    """Load and warm up the models off the event loop; on failure keep the reason in ``app.state``."""
    settings: Settings = app.state.settings
    service_metrics: ServiceMetrics = app.state.metrics
    try:
        app.state.models = await run_in_threadpool(load_models, settings, service_metrics.observe_inference)
    except Exception as exc:
        logger.exception("could not load the models from %s", settings.models_dir)
        app.state.load_error = f"{type(exc).__name__}: {exc}"
        if settings.exit_on_load_failure:
            logger.critical("exiting with status %d (MRI_EXIT_ON_LOAD_FAILURE)", LOAD_FAILURE_EXIT_CODE)
            logging.shutdown()  # flush the log before the hard exit
            os._exit(LOAD_FAILURE_EXIT_CODE)
        return
    service_metrics.models_ready.set(1)
    logger.info("ready")


def _size_thread_pool(settings: Settings) -> None:
    """Enough worker threads for a full batcher queue plus a running batch plus a few decoders.

    A request waiting for its model call holds a worker thread (Starlette's pool, 40 by default),
    so the queue bound (MRI_MAX_QUEUE) is reached, and answered 503, before the pool runs dry.
    """
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(limiter.total_tokens, settings.max_queue + settings.max_batch_size + 8)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Set up logging and start loading the models; drop them (not ready) at shut-down."""
    settings: Settings = app.state.settings
    configure_logging(settings.log_level, settings.log_format)
    _size_thread_pool(settings)
    # OpenCV (decoding, resizing, masks) works in the request's own worker thread: its pool would add
    # threads beside the model calls', which take the cores (docs/runtimes.md, Threads)
    cv2.setNumThreads(1)
    logger.info("loading models from %s", settings.models_dir)
    loading = asyncio.create_task(_load_models(app), name="load-models")
    try:
        yield
    finally:
        loading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loading
        app.state.metrics.models_ready.set(0)
        loaded, app.state.models = app.state.models, None
        if loaded is not None:
            await run_in_threadpool(loaded.close)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: from the ``MRI_*`` environment)."""
    settings = settings or Settings()
    app = FastAPIOffline(  # /docs and /redoc with their assets served locally (no CDN)
        title="Brain MRI tumour detection",
        version=API_VERSION,
        description="Classify and segment FLAIR abnormalities (lower-grade glioma) in brain MRI slices.",
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from the online validator
    )
    app.state.settings = settings
    app.state.metrics = ServiceMetrics()
    app.state.models = None
    app.state.load_error = None
    app.state.volume_budget = memory_budget(settings)
    register_exception_handlers(app)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_upload_bytes,
        path_limits={volume.PATH: settings.max_volume_upload_bytes},
    )
    app.add_middleware(BodyTimeoutMiddleware, timeout_s=settings.body_timeout_s)
    app.add_middleware(ContentSecurityPolicyMiddleware)  # HTML pages load nothing from elsewhere
    app.add_middleware(HeaderLimitMiddleware, max_bytes=settings.max_header_bytes)
    app.add_middleware(  # probes (every few seconds from an orchestrator) are logged at DEBUG
        RequestObservabilityMiddleware,
        metrics=app.state.metrics,
        debug_prefixes=(health.router.prefix + "/",),
    )
    app.add_middleware(  # outermost: the request ID is set before anything logs
        CorrelationIdMiddleware, header_name=REQUEST_ID_HEADER, validator=valid_request_id
    )
    for router in (
        classify.router,
        segment.router,
        analyze.router,
        health.router,
        models.router,
        metrics.router,
        preview.router,
        volume.router,
        oip.router,
    ):
        app.include_router(router)
    web.install(app)  # GET / (the page) and its static files
    return app


app = create_app()
