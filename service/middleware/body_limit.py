"""Refuse request bodies over a size limit with 413 while they are being read."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.middleware.answers import send_json_error


class BodySizeLimitMiddleware:
    """Answer ``413 {"detail": ...}`` for a request body larger than ``max_bytes``.

    The check runs when the app first reads the body (after routing, so the request is logged
    with its endpoint): a ``Content-Length`` over the limit is refused before any byte is read;
    otherwise the streamed chunks are counted and the first byte over the limit triggers the 413.
    Either way the app is then told the client disconnected (so it stops reading and buffers
    nothing more), and whatever it answers after that is dropped. ``path_limits`` gives other limits
    to some paths (``{"/volume": ...}``).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        max_bytes = self.path_limits.get(scope.get("path", ""), self.max_bytes)
        received = 0
        refused = False
        response_started = False

        async def refuse() -> Message:
            nonlocal refused
            if not response_started:
                await send_json_error(send, 413, f"request body larger than {max_bytes} bytes")
            refused = True
            return {"type": "http.disconnect"}

        async def limited_receive() -> Message:
            nonlocal received
            if refused:
                return {"type": "http.disconnect"}
            if declared is not None and declared > max_bytes:
                return await refuse()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    return await refuse()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused and not response_started:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


def _content_length(scope: Scope) -> int | None:
    try:
        return int(Headers(scope=scope)["content-length"])
    except (KeyError, ValueError):
        return None
