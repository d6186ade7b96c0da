"""A Content-Security-Policy on every HTML answer: its page may load nothing from another origin.

The service's HTML pages are the page of ``GET /`` and the API docs (``/docs``, ``/redoc``). They
load their scripts, styles and images from the service itself; this header makes the browser
refuse anything else, e.g. the logo the ReDoc bundle links from its CDN, so that the pages work
the same on a network without internet and tell nobody outside that they were opened.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Same origin only. Inline scripts and styles: the docs pages start Swagger UI / ReDoc with an
#: inline script, and ReDoc styles itself inline; ``blob:`` workers: ReDoc's search index.
DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'self'",
)
CONTENT_SECURITY_POLICY = "; ".join(DIRECTIVES)


class ContentSecurityPolicyMiddleware:
    """Add ``Content-Security-Policy: policy`` to answers whose content type is ``text/html``."""

    def __init__(self, app: ASGIApp, policy: str = CONTENT_SECURITY_POLICY) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Content-Security-Policy"] = self.policy
            await send(message)

        await self.app(scope, receive, send_with_policy)
