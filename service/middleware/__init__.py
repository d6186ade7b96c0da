"""Pure ASGI middleware: request-body size limit, request logging and metrics, HTML security policy."""

from service.middleware.body_limit import BodySizeLimitMiddleware
from service.middleware.csp import ContentSecurityPolicyMiddleware
from service.middleware.observability import RequestObservabilityMiddleware

__all__ = ["BodySizeLimitMiddleware", "ContentSecurityPolicyMiddleware", "RequestObservabilityMiddleware"]
