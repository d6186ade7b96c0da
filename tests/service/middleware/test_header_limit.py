"""431 for request headers over MRI_MAX_HEADER_BYTES (the app's own check, under any server)."""

from __future__ import annotations

import contextlib


def test_headers_over_the_limit_are_431_and_the_service_stays_up(make_client):
    client = make_client(max_header_bytes=4096)
    response = client.get("/v2/health/live", headers={"X-Padding": "a" * 5000})
    assert response.status_code == 431
    assert response.json() == {
        "detail": "request headers larger than 4096 bytes; send fewer or shorter headers"
    }
    assert client.get("/v2/health/live", headers={"X-Padding": "a" * 1000}).status_code == 200


def test_the_default_limit_refuses_a_huge_header_block(client):
    response = client.get("/v2/health/live", headers={f"X-H{i}": "b" * 1000 for i in range(40)})
    assert response.status_code == 431


def test_uvicorn_with_h11_as_the_scripts_run_it_refuses_a_huge_header_block_while_parsing(client):
    """scripts/serve.sh and the image run uvicorn with ``--http h11``: a header block over 16 KiB is
    refused before the app sees it (httptools would buffer megabytes)."""
    import socket
    import threading

    import uvicorn

    from tests.servers import bound_socket

    sock = bound_socket()
    server = uvicorn.Server(uvicorn.Config(client.app, http="h11", log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            threading.Event().wait(0.05)
        with socket.create_connection(sock.getsockname(), timeout=10) as conn:
            # the server may answer and close before the whole block is sent
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                conn.sendall(
                    b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
                )
            answer = conn.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400"), answer
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
