"""408 for request bodies that do not arrive within MRI_BODY_TIMEOUT_S: in the ASGI app, and from a
real uvicorn server to a client that sends half a body and stalls."""

from __future__ import annotations

import json
import socket

import anyio

from service.main import create_app
from service.middleware.body_timeout import BodyTimeoutMiddleware
from service.settings import Settings
from tests.servers import serve_app


async def _echo(scope, receive, send):
    """Read the body, answer its size; with ``wait_after`` in the scope, read once more first (as a
    streaming answer waits for a disconnect) and answer what came."""
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    answer = str(size).encode()
    if scope.get("wait_after"):
        answer += b" then " + (await receive())["type"].encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": answer})


async def _call(app, messages: list[tuple[float, dict]], **scope_extra) -> list[dict]:
    """Run a POST through ``app``: each message arrives after its delay, then the client stalls for good."""
    scope = {"type": "http", "method": "POST", "path": "/volume", "headers": [], "query_string": b""}
    queue = list(messages)
    sent: list[dict] = []
    never = anyio.Event()

    async def receive() -> dict:
        if queue:
            delay, message = queue.pop(0)
            await anyio.sleep(delay)
            return message
        await never.wait()  # the client never sends the rest
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    with anyio.fail_after(30):
        await app({**scope, **scope_extra}, receive, send)
    return sent


def _chunk(body: bytes, more: bool) -> tuple[float, dict]:
    return 0.0, {"type": "http.request", "body": body, "more_body": more}


def test_a_stalled_body_is_408_and_the_app_is_told_the_client_left():
    app = BodyTimeoutMiddleware(_echo, timeout_s=0.2)
    sent = anyio.run(_call, app, [_chunk(b"x" * 10, True), _chunk(b"y" * 10, True)])
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"]) == {"detail": "the request body did not arrive within 0.2 s"}
    assert len(sent) == 2


def test_a_body_that_arrives_in_time_passes_and_later_reads_are_not_timed():
    """The body comes at once; the read after it waits past the limit (a disconnect, late): no 408."""
    app = BodyTimeoutMiddleware(_echo, timeout_s=0.2)
    late = (0.5, {"type": "http.disconnect"})
    sent = anyio.run(
        lambda: _call(app, [_chunk(b"x" * 10, True), _chunk(b"y" * 10, False), late], wait_after=True)
    )
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"20 then http.disconnect"


def test_a_real_server_answers_408_to_a_client_that_stalls_mid_body(models_dir):
    app = create_app(Settings(models_dir=models_dir, body_timeout_s=1.0))
    with serve_app(app) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"POST /volume HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b'Content-Length: 100000\r\n\r\n--b\r\nContent-Disposition: form-data; name="file"; '
                b'filename="v.nii"\r\n\r\nonly the start'
            )
            answer = sock.recv(4096)  # the server answers by itself: the client sends nothing more
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"did not arrive within 1 s" in answer
