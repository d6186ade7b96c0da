"""The server's protocol (httptools, as the image runs it) stops reading a header block past its
bound, answers 431 and closes; requests below it, bodies of any size and kept-alive connections
are served as usual."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
import uvicorn

from service.protocol import BoundedHttpToolsProtocol, head_limit
from tests.servers import bound_socket
from tests.service import samples


@pytest.fixture(scope="module")
def address(client) -> Iterator[tuple[str, int]]:
    """The started app of the session, served by uvicorn with the bounded protocol."""
    sock = bound_socket()
    config = uvicorn.Config(client.app, http=BoundedHttpToolsProtocol, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            threading.Event().wait(0.05)
        yield sock.getsockname()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _answers(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := conn.recv(65536):
            received += chunk
    return received


def test_a_huge_header_block_is_refused_with_431_while_it_arrives(address):
    with socket.create_connection(address, timeout=10) as conn:
        # the server answers and closes before the whole block is sent
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(
                b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 22) + b"\r\n\r\n"
            )
        answer = _answers(conn)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert f"larger than {head_limit()} bytes".encode() in answer


def test_a_block_over_the_setting_but_within_the_bound_gets_the_apps_431(address):
    with socket.create_connection(address, timeout=10) as conn:
        padding = b"a" * (head_limit() - 2048)
        conn.sendall(
            b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + padding + b"\r\n\r\n"
        )
        answer = _answers(conn)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b"send fewer or shorter headers" in answer


def _response(conn: socket.socket) -> tuple[bytes, bytes]:
    """The status code and headers of one answer, its body read to its Content-Length."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += conn.recv(65536)
    head, body = received.split(b"\r\n\r\n", 1)
    length = next(
        int(v) for k, v in (h.split(b": ", 1) for h in head.split(b"\r\n")[1:]) if k == b"content-length"
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head.split(b" ")[1], head


def test_large_bodies_on_a_kept_alive_connection_are_not_counted_as_headers(address):
    """Bodies several times the bound, sent in one write with their headers, three requests one after
    the other on one connection: each is read and answered by the app, 200, the connection kept."""
    slice_ = samples.lgg_bytes()  # a real slice
    assert len(slice_) > 4 * head_limit()
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="s.tif"\r\n'
        b"Content-Type: image/tiff\r\n\r\n" + slice_ + b"\r\n--b--\r\n"
    )
    request = (
        b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection(address, timeout=30) as conn:
        for _ in range(3):
            conn.sendall(request)
            status, head = _response(conn)
            assert status == b"200" and b"connection: close" not in head.lower(), head
