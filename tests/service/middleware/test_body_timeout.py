"""408 for request bodies that do not arrive within MRI_BODY_TIMEOUT_S: in the ASGI app, and from a
real uvicorn server to a client that sends half a body and stalls."""

from __future__ import annotations

import json
import socket
import time

import anyio

from service.main import create_app
from service.middleware.body_timeout import BodyTimeoutMiddleware
from service.settings import Settings
from tests.servers import serve_app


async def _echo(scope, receive, send):
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def _call(app, chunks: list[tuple[float, bytes]]) -> list[dict]:
    """Run a POST through ``app``; each chunk arrives after its delay, then the client stalls."""
    scope = {"type": "http", "method": "POST", "path": "/volume", "headers": [], "query_string": b""}
    queue = list(chunks)
    sent: list[dict] = []

    async def receive() -> dict:
        if queue:
            delay, body = queue.pop(0)
            await anyio.sleep(delay)
            return {"type": "http.request", "body": body, "more_body": bool(queue)}
        await anyio.sleep(3600)  # the client never sends the rest
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    with anyio.fail_after(10):
        await app(scope, receive, send)
    return sent


def test_a_stalled_body_is_408_and_the_app_is_told_the_client_left():
    app = BodyTimeoutMiddleware(_echo, timeout_s=0.2)
    sent = anyio.run(_call, app, [(0.0, b"x" * 10), (0.05, b"y" * 10), (5.0, b"never")])
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"]) == {"detail": "the request body did not arrive within 0.2 s"}
    assert len(sent) == 2


def test_a_body_that_arrives_in_time_passes_and_later_reads_are_not_timed():
    app = BodyTimeoutMiddleware(_echo, timeout_s=0.5)
    sent = anyio.run(_call, app, [(0.0, b"x" * 10), (0.1, b"y" * 10)])
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"20"


def test_a_real_server_answers_408_to_a_client_that_stalls_mid_body(models_dir):
    app = create_app(Settings(models_dir=models_dir, body_timeout_s=1.0))
    with serve_app(app) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"POST /volume HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b"Content-Length: 100000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; "
                b"filename=\"v.nii\"\r\n\r\nonly the start"
            )
            start = time.monotonic()
            answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"did not arrive within 1 s" in answer
        assert time.monotonic() - start < 5
