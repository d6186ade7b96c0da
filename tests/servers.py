"""The real service on loopback for tests: scripts/serving.py, the one way scripts and tests start it.

``serve_app(app)`` runs an app object (e.g. ``service_app(models_dir, api_key=...)``) in a thread
of the test process (fixtures, monkeypatching and ``app.state`` stay reachable);
``serve_process(env)`` runs ``uvicorn service.main:app`` as a child process (what the image runs).
Both yield the base URL once ready; ``bound_socket()`` is a loopback port nobody listens on.
"""

from __future__ import annotations

from scripts.serving import bound_socket, serve_app, serve_process, service_app

__all__ = ["bound_socket", "serve_app", "serve_process", "service_app"]
