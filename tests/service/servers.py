"""Serve an app with uvicorn on 127.0.0.1 (a free port, a background thread) for real HTTP clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from tests.service.apps import wait_for_models


@contextmanager
def serving(app: FastAPI, timeout: float = 120.0) -> Iterator[str]:
    """Run ``app`` until the block ends; yields its base URL once the models are loaded."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        assert time.monotonic() < deadline, "uvicorn did not start in time"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_models(app, timeout)
        assert httpx.get(f"{url}/v2/health/ready", timeout=10).status_code == 200
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
