"""Fixtures of the browser tests: the real app served by uvicorn on 127.0.0.1 and headless Chromium.

Chromium is Debian's package (``/usr/bin/chromium``, installed by ``scripts/setup_env.sh test``) or
any Chromium found on ``PATH`` (scripts/headless_chromium.py), driven by Playwright for Python over
CDP; no browser is downloaded. Without one the browser tests fail, saying how to install it; they
are never skipped silently (``pytest -m "not browser"`` leaves them out on purpose).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from scripts import headless_chromium
from service.main import create_app
from service.settings import DEFAULT_MODELS_DIR, Settings
from tests.servers import serve_app


@contextmanager
def serve(settings: Settings, wait_ready: bool = True, timeout: float = 180.0) -> Iterator[str]:
    """Run ``create_app(settings)`` under uvicorn on a loopback port; yield its base URL."""
    with serve_app(create_app(settings), ready=wait_ready, timeout=timeout) as base:
        yield base


@pytest.fixture(scope="session")
def bundled_server() -> Iterator[str]:
    """The app with the bundled models of ``models/`` and default settings (no API key)."""
    with serve(Settings(models_dir=DEFAULT_MODELS_DIR)) as base:
        yield base


@pytest.fixture
def make_server() -> Iterator[Callable[..., str]]:
    """Start another server: ``make_server(api_key="k", models_dir=..., wait_ready=False)``."""
    with ExitStack() as stack:

        def make(wait_ready: bool = True, **overrides: Any) -> str:
            settings = Settings(**{"models_dir": DEFAULT_MODELS_DIR, **overrides})
            return stack.enter_context(serve(settings, wait_ready=wait_ready))

        yield make


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium under Playwright (session-wide)."""
    executable = headless_chromium.find_chromium()
    if executable is None or not _playwright_installed():
        wanted = os.environ.get("MRI_TEST_CHROMIUM") or "chromium (/usr/bin/chromium or on PATH)"
        pytest.fail(
            f"no browser to drive: {wanted} not found, or Playwright missing; "
            "`bash scripts/setup_env.sh test` installs both (or leave these tests out: -m 'not browser')"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = headless_chromium.launch(playwright, executable)
        yield browser
        browser.close()


def _playwright_installed() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return True


#: How Playwright reports a request that the page's Content-Security-Policy refused: it never left.
BLOCKED_BY_CSP = {"csp", "net::ERR_BLOCKED_BY_CSP"}


class Recorded:
    """A fresh page whose every request is recorded (``urls``, ``failures``); a request to another
    origin that the browser would send is recorded, then aborted, so a test never reaches outside
    the machine."""

    def __init__(self, context: Any, base: str) -> None:
        self.base = base
        self.urls: list[str] = []
        self.failures: dict[str, str | None] = {}
        self.console_errors: list[str] = []
        self.page = context.new_page()
        self.page.on("request", lambda request: self.urls.append(request.url))
        self.page.on("requestfailed", lambda request: self.failures.update({request.url: request.failure}))
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        if self.same_origin(route.request.url):
            route.continue_()
        else:
            route.abort()

    def same_origin(self, url: str) -> bool:
        if url.startswith(("data:", "blob:")):
            return True
        own, other = urlsplit(self.base), urlsplit(url)
        return (other.scheme, other.netloc) == (own.scheme, own.netloc)

    def foreign(self) -> list[str]:
        """Once the page's network is idle: the recorded requests to another origin that the browser sent (or would have sent had
        the test not aborted them): all but those its Content-Security-Policy refused."""
        self.page.wait_for_load_state("networkidle")
        return [
            url
            for url in self.urls
            if not self.same_origin(url) and self.failures.get(url) not in BLOCKED_BY_CSP
        ]

    def blocked(self) -> list[str]:
        """Requests to another origin that the page's Content-Security-Policy refused."""
        return [url for url, failure in self.failures.items() if failure in BLOCKED_BY_CSP]


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[[str], Recorded]]:
    """``open_page(base)``: a new browser context and page with its requests recorded."""
    contexts = []

    def make(base: str) -> Recorded:
        context = browser.new_context(viewport={"width": 1100, "height": 820}, accept_downloads=True)
        contexts.append(context)
        return Recorded(context, base)

    yield make
    for context in contexts:
        context.close()
