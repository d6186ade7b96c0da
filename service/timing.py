"""Server-Timing: how much of a request's time its model calls took.

:class:`service.middleware.RequestObservabilityMiddleware` opens a :class:`RequestTiming` for every
request (a context variable: the request's worker threads inherit it); :class:`service.inference.FileRunner`
adds the time the request spent in each of its model calls, waiting in the batcher's queue
included. The answer's header then reads, in milliseconds,

    Server-Timing: model;dur=31.2, app;dur=36.9

``app``: from the request entering the app to its answer's headers; ``model``: the model calls'
part of it (absent when the request made none). ``app`` minus ``model`` is what the service's own
HTTP path cost (decoding, post-processing, the answer, the framework); the client's round trip
minus ``app`` is the server's and the network's (docs/benchmarks.md, the request profile).
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field

HEADER = b"server-timing"


@dataclass
class RequestTiming:
    """One request's clock: its start (``time.perf_counter``) and its model calls' seconds."""

    start: float = field(default_factory=time.perf_counter)
    model_s: float = 0.0
    model_calls: int = 0

    def header(self) -> bytes:
        """The Server-Timing value at this moment (``app`` measured now)."""
        app_ms = (time.perf_counter() - self.start) * 1000
        model = f"model;dur={self.model_s * 1000:.1f}, " if self.model_calls else ""
        return f"{model}app;dur={app_ms:.1f}".encode()


_current: ContextVar[RequestTiming | None] = ContextVar("request_timing", default=None)


def start_request() -> RequestTiming:
    """A new clock for the request of the current context."""
    timing = RequestTiming()
    _current.set(timing)
    return timing


def add_model_time(seconds: float) -> None:
    """Count one model call of the current request (no-op outside a request)."""
    timing = _current.get()
    if timing is not None:
        timing.model_s += seconds
        timing.model_calls += 1
