"""A small real HTTP server for the faults and credentials no real server here gives on demand: it
answers every request with one fixed status, headers and JSON body, and keeps the request lines and
headers it got."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.servers import in_thread


@dataclass
class Answering:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: object = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""


@contextmanager
def answering(
    status: int = 200, headers: dict[str, str] | None = None, body: object = ()
) -> Iterator[Answering]:
    """Serve on a free loopback port until the block ends; change ``status``/``headers``/``body`` at will."""
    state = Answering(status, dict(headers or {}), list(body) if isinstance(body, tuple) else body)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length", 0) or 0)
            if length:
                self.rfile.read(length)
            state.requests.append((f"{self.command} {self.path}", dict(self.headers)))
            data = json.dumps(state.body).encode()
            self.send_response(state.status)
            for name, value in {"Content-Type": "application/dicom+json", **state.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:  # quiet
            pass

    with in_thread(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as state.url:
        yield state
