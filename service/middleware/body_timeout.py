"""Refuse, with 408, a request whose body does not arrive within a time limit (slow or stalled uploads)."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.middleware.answers import send_json_error


class BodyTimeoutMiddleware:
    """Answer ``408 {"detail": ...}`` when the whole request body has not arrived ``timeout_s``
    seconds after the request's headers (``MRI_BODY_TIMEOUT_S``).

    Only reads of an unfinished body are timed: once the last body chunk has come, ``receive``
    passes through (a streaming answer may wait on it for a disconnect). After the 408 the app is
    told the client disconnected, and whatever it answers is dropped, as by
    :class:`~service.middleware.body_limit.BodySizeLimitMiddleware`.
    """

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        body_done = False
        timed_out = False
        response_started = False

        async def timed_receive() -> Message:
            nonlocal body_done, timed_out
            if timed_out:
                return {"type": "http.disconnect"}
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):  # no task per message, unlike wait_for
                    message = await receive()
            except TimeoutError:
                timed_out = True
                if not response_started:
                    await send_json_error(
                        send, 408, f"the request body did not arrive within {self.timeout_s:g} s"
                    )
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if timed_out and not response_started:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, timed_receive, guarded_send)
