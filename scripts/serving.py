"""Start the service on loopback for a tool or a test, and wait until it is ready: the one way the
scripts (benchmarks, screenshots) and the tests (tests/servers.py) start it.

- :func:`serve_app`: an app object under uvicorn in a thread of this process, on a socket bound
  before the server starts (no free-port race);
- :func:`serve_process`: ``uvicorn service.main:app`` (or another uvicorn command line) in a child
  process on port 0, its port read from uvicorn's start-up line, stopped with SIGTERM as
  ``docker stop`` does. Settings go in through the environment (``MRI_*``).

Both yield the base URL once ``GET /v2/health/ready`` answers 200 (``ready=False``: once the
server answers at all, e.g. to watch models that cannot load).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
READY_PATH = "/v2/health/ready"
#: ``python -m uvicorn`` for the service as the image runs it (no access log: the service logs).
UVICORN = (sys.executable, "-m", "uvicorn", "service.main:app", "--no-access-log")
_LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def service_app(models_dir: Path, **settings: Any) -> Any:
    """The service's app (``create_app``) for ``models_dir`` and other ``Settings`` fields, logging
    warnings and errors only (``log_level`` overrides)."""
    from service.main import create_app
    from service.settings import Settings

    return create_app(Settings(**{"models_dir": models_dir, "log_level": "WARNING", **settings}))


def bound_socket() -> socket.socket:
    """A TCP socket bound to a free loopback port and kept (not listening: connections to it are
    refused until someone listens), so no other process can take the port meanwhile."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def wait_until_ready(
    url: Callable[[], str | None], failure: Callable[[], str | None], timeout: float, ready: bool = True
) -> str:
    """Poll ``url()`` (None while the server has no address yet) until ``/v2/health/ready`` answers
    200 (``ready=False``: anything); raise ``RuntimeError`` with ``failure()`` once it says the server
    cannot come up, ``TimeoutError`` after ``timeout`` seconds. Returns the URL."""
    deadline = time.monotonic() + timeout
    while True:
        if (why := failure()) is not None:
            raise RuntimeError(why)
        if (base := url()) is not None:
            try:
                if httpx.get(base + READY_PATH, timeout=5).status_code == 200 or not ready:
                    return base
            except httpx.TransportError:
                pass
        if time.monotonic() > deadline:
            state = "ready" if ready else "answering"
            raise TimeoutError(f"the service was not {state} within {timeout:.0f} s")
        time.sleep(0.1)


@contextmanager
def serve_app(
    app: Any, ready: bool = True, timeout: float = 180.0, sock: socket.socket | None = None
) -> Iterator[str]:
    """Run an ASGI app with uvicorn in a thread on a loopback socket it is handed; yield its URL
    once ready (see the module docstring). An app that keeps ``state.load_error`` (the service)
    fails the wait as soon as its models cannot load, when ``ready`` is asked. ``sock``: a socket
    from :func:`bound_socket` to serve on (e.g. one a client already points at, refused until now)."""
    import uvicorn

    sock = sock or bound_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"

    def failure() -> str | None:
        if not thread.is_alive():
            return "the service thread died during start-up"
        load_error = getattr(getattr(app, "state", None), "load_error", None)
        return f"the models did not load: {load_error}" if ready and load_error else None

    try:
        yield wait_until_ready(lambda: base, failure, timeout, ready)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextmanager
def serve_process(
    env: Mapping[str, str],
    command: Sequence[str] = UVICORN,
    log: Path | None = None,
    ready: bool = True,
    timeout: float = 180.0,
) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run ``command`` (a uvicorn command line without ``--host``/``--port``, uvicorn's log level
    INFO or lower: its start-up line names the port) with ``--host 127.0.0.1 --port 0`` in a child
    process with environment ``env``, stdout and stderr into ``log`` (default: a temporary file);
    yield ``(process, url)`` once ready. On exit the process gets SIGTERM and is waited for (killed
    after 60 s); its exit status is then ``process.returncode``."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        log_path = log or Path(scratch) / "service.log"
        with open(log_path, "wb") as sink:
            process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", "0"],
                cwd=REPO,
                env=dict(env),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

        def tail() -> str:
            return log_path.read_text(errors="replace")[-4000:]

        def url() -> str | None:
            found = _LISTENING.search(log_path.read_text(errors="replace"))
            return f"http://127.0.0.1:{found.group(1)}" if found else None

        def failure() -> str | None:
            if process.poll() is None:
                return None
            return f"the service exited with status {process.returncode}:\n{tail()}"

        try:
            try:
                base = wait_until_ready(url, failure, timeout, ready)
            except TimeoutError as exc:
                raise TimeoutError(f"{exc}:\n{tail()}") from None
            yield process, base
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
