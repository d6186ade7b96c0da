"""Pure ASGI middleware: request-body size limit, request logging and metrics."""

from service.middleware.body_limit import BodySizeLimitMiddleware
from service.middleware.observability import RequestObservabilityMiddleware

__all__ = ["BodySizeLimitMiddleware", "RequestObservabilityMiddleware"]
