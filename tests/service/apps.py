"""Start an app under ``TestClient`` and wait for its models, which load in the background."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient


def wait_for_models(app: FastAPI, timeout: float = 120.0) -> None:
    """Return once the lifespan's background load has finished; fail on a load error or time-out."""
    deadline = time.monotonic() + timeout
    while app.state.models is None:
        assert app.state.load_error is None, f"the models did not load: {app.state.load_error}"
        assert time.monotonic() < deadline, f"the models did not load within {timeout} s"
        time.sleep(0.02)


@contextmanager
def started(app: FastAPI, **client_options: Any) -> Iterator[TestClient]:
    """``TestClient(app)`` with the lifespan run and the models loaded and warmed up."""
    with TestClient(app, **client_options) as client:
        wait_for_models(app)
        yield client
