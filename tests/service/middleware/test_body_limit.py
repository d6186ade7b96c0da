"""413 for bodies over MRI_MAX_UPLOAD_BYTES: from Content-Length, and while a body streams in."""

from __future__ import annotations

import json

import anyio

from service.main import create_app
from service.middleware.body_limit import BodySizeLimitMiddleware
from service.settings import Settings
from tests.service import samples

BOUNDARY = b"limit-test-boundary"


async def _call(app, body_chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[list[dict], int]:
    """Run one POST /classify through the ASGI app; returns the sent messages and chunks read."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/classify",
        "raw_path": b"/classify",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1234),
        "server": ("test", 80),
    }
    read = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal read
        if read < len(body_chunks):
            read += 1
            return {
                "type": "http.request",
                "body": body_chunks[read - 1],
                "more_body": read < len(body_chunks),
            }
        await anyio.sleep(3600)  # the client is still there; the app must not wait for more
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    with anyio.fail_after(10):
        await app(scope, receive, send)
    return sent, read


def _multipart_chunks(total: int, chunk: int) -> list[bytes]:
    head = (
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
    )
    body = head + b"\0" * (total - len(head))
    return [body[i : i + chunk] for i in range(0, len(body), chunk)]


def test_streamed_body_is_refused_while_reading(tmp_path):
    app = create_app(Settings(models_dir=tmp_path, max_upload_bytes=10_000))
    chunks = _multipart_chunks(total=1_000_000, chunk=1_000)  # no Content-Length: chunked upload
    headers = [(b"content-type", b"multipart/form-data; boundary=" + BOUNDARY)]

    sent, read = anyio.run(_call, app, chunks, headers)

    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["detail"] == "request body larger than 10000 bytes"
    assert len(sent) == 2  # the app's own answer after the disconnect is dropped
    assert read == 11  # stopped at the first chunk over the limit, not after 1000 chunks


def test_declared_content_length_is_refused_before_reading(tmp_path):
    app = create_app(Settings(models_dir=tmp_path, max_upload_bytes=10_000))
    chunks = _multipart_chunks(total=50_000, chunk=1_000)
    headers = [(b"content-type", b"multipart/form-data; boundary=" + BOUNDARY), (b"content-length", b"50000")]

    sent, read = anyio.run(_call, app, chunks, headers)

    assert sent[0]["status"] == 413 and read == 0


def test_over_limit_upload_through_the_client(make_client):
    client = make_client(max_upload_bytes=5_000)
    big = samples.png_bytes(samples.lgg_pixels())  # ~100 kB

    response = client.post("/classify", files={"file": ("big.png", big, "image/png")})

    assert response.status_code == 413
    assert response.json() == {"detail": "request body larger than 5000 bytes"}
    assert client.get("/v2/health/ready").status_code == 200


def test_bodies_under_the_limit_pass_untouched():
    async def echo(scope, receive, send):
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})

    app = BodySizeLimitMiddleware(echo, max_bytes=3_000)
    sent, read = anyio.run(_call, app, [b"x" * 1_000] * 3, [])

    assert sent[0]["status"] == 200 and sent[1]["body"] == b"3000" and read == 3
