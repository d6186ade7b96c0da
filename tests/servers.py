"""The real service on loopback for tests: scripts/serving.py, the one way scripts and tests start it.

``serve_app(app)`` runs an app object (e.g. ``service_app(models_dir, api_key=...)``) in a thread
of the test process (fixtures, monkeypatching and ``app.state`` stay reachable);
``serve_process(env)`` runs ``uvicorn service.main:app`` as a child process (what the image runs).
Both yield the base URL once ready; ``bound_socket()`` is a loopback port nobody listens on.
``in_thread(server)`` serves a test's own ``http.server`` (a stub, a server answering on demand).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import HTTPServer

from scripts.serving import bound_socket, serve_app, serve_process, service_app

__all__ = ["bound_socket", "in_thread", "serve_app", "serve_process", "service_app"]


@contextmanager
def in_thread(server: HTTPServer) -> Iterator[str]:
    """Serve ``server`` (bound and listening) in a daemon thread until the block ends; yields its URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
