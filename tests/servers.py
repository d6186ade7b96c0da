"""The real service on loopback for tests: uvicorn in a thread on a socket bound before it starts."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def bound_socket() -> socket.socket:
    """A TCP socket bound to a free loopback port and kept (not listening: connections to it are
    refused until someone listens), so no other process can take the port meanwhile."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve_app(app, ready: bool = True, timeout: float = 120.0, sock: socket.socket | None = None) -> Iterator[str]:
    """Run an ASGI app with uvicorn in a thread on a loopback socket it is handed (no free-port
    race); yield its URL once ``/v2/health/ready`` answers 200 (``ready=False``: once it answers).
    ``sock``: a socket from :func:`bound_socket` to serve on (e.g. one a client already points at)."""
    import uvicorn

    sock = sock or bound_socket()
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            assert thread.is_alive(), "the service thread died during start-up"
            load_error = getattr(getattr(app, "state", None), "load_error", None)
            assert not ready or load_error is None, load_error
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 200 or not ready:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.1)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
