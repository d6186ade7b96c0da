"""Pure ASGI middleware: request-body size and time limits, a header size limit, request logging and
metrics, HTML security policy."""

from service.middleware.body_limit import BodySizeLimitMiddleware
from service.middleware.body_timeout import BodyTimeoutMiddleware
from service.middleware.csp import ContentSecurityPolicyMiddleware
from service.middleware.header_limit import HeaderLimitMiddleware
from service.middleware.observability import RequestObservabilityMiddleware

__all__ = [
    "BodySizeLimitMiddleware",
    "BodyTimeoutMiddleware",
    "ContentSecurityPolicyMiddleware",
    "HeaderLimitMiddleware",
    "RequestObservabilityMiddleware",
]
