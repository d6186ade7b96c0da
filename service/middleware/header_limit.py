"""Refuse, with 431, a request whose header block is larger than a limit."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from service.middleware.answers import send_json_error


class HeaderLimitMiddleware:
    """Answer ``431 {"detail": ...}`` without calling the app when the request's headers (names and
    values, plus the request target) exceed ``max_bytes`` (``MRI_MAX_HEADER_BYTES``).

    This holds under any ASGI server; the server parses the headers first, so ``scripts/serve.sh``
    and the image run uvicorn with :mod:`service.protocol`, which itself stops reading a header
    block a few KiB past this limit (docs/service.md, Run).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            size += sum(len(name) + len(value) + 4 for name, value in scope.get("headers", []))
            if size > self.max_bytes:
                await send_json_error(
                    send,
                    431,
                    f"request headers larger than {self.max_bytes} bytes; send fewer or shorter headers",
                )
                return
        await self.app(scope, receive, send)
