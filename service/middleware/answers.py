"""The JSON error a pure ASGI middleware answers itself (before or instead of the app)."""

from __future__ import annotations

import json

from starlette.types import Send


async def send_json_error(send: Send, status: int, detail: str) -> None:
    """``{"detail": ...}`` with ``status``, closing the connection (the body may be left unread)."""
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
