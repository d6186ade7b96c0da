"""One structured log line, the Prometheus request metrics and a Server-Timing header for every HTTP request."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import ServiceMetrics
from service.timing import HEADER, start_request

logger = logging.getLogger("service.access")

#: Key in the request state where endpoints put the number of slices of the request.
IMAGES_STATE_KEY = "n_images"


class RequestObservabilityMiddleware:
    """Log ``request method=... endpoint=... status=... latency_ms=... bytes_in=... images=...``
    (never any pixel data, file name or query value; the same values as structured fields of the
    record, e.g. JSON keys with ``MRI_LOG_FORMAT=json``) and record the request in :class:`ServiceMetrics`.

    ``bytes_in`` counts the body bytes the app read; ``images`` is what the endpoint stored under
    ``request.state.n_images``. An exception escaping the app counts as status 500. Requests to an
    endpoint under one of ``debug_prefixes`` (the health probes an orchestrator sends every few
    seconds) are logged at DEBUG, all others at INFO; every request is counted in the metrics.
    Every answer carries ``Server-Timing`` (:mod:`service.timing`: the app's and the model calls' ms).
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, debug_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.debug_prefixes = debug_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timing = start_request()
        start = timing.start
        root_path = scope.get("root_path", "")
        state = scope.setdefault("state", {})
        bytes_in = 0
        status = 500

        async def counting_receive() -> Message:
            nonlocal bytes_in
            message = await receive()
            if message["type"] == "http.request":
                bytes_in += len(message.get("body", b""))
            return message

        async def status_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (HEADER, timing.header())]}
            await send(message)

        try:
            await self.app(scope, counting_receive, status_send)
        except Exception:
            status = 500
            raise
        finally:
            seconds = time.perf_counter() - start
            endpoint = _endpoint(scope, root_path)
            images = int(state.get(IMAGES_STATE_KEY, 0))
            self.metrics.observe_request(endpoint, scope["method"], status, seconds, images)
            fields = {
                "method": scope["method"],
                "endpoint": endpoint,
                "status": status,
                "latency_ms": round(seconds * 1000, 1),
                "bytes_in": bytes_in,
                "images": images,
            }
            logger.log(
                logging.DEBUG if endpoint.startswith(self.debug_prefixes) else logging.INFO,
                "request method=%s endpoint=%s status=%d latency_ms=%.1f bytes_in=%d images=%d",
                *fields.values(),
                extra=fields,
            )


def _endpoint(scope: Scope, root_path: str) -> str:
    """The route template that served the request; for a mounted app (the page's static files) its
    mount prefix, which routing appends to ``root_path``; ``unmatched`` when nothing served it."""
    route_path = getattr(scope.get("route"), "path", None)
    if route_path:
        return route_path
    mounted = scope.get("root_path", "")
    if mounted != root_path and mounted.startswith(root_path):
        return mounted[len(root_path) :]
    return "unmatched"
