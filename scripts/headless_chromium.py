"""How the page tools and tests start Debian's Chromium (``apt-get install chromium``) through
Playwright: headless, no sandbox (containers, root) and no background traffic, so that every
request the browser makes is one the page made."""

from __future__ import annotations

import os
from typing import Any

#: The browser executable; ``MRI_TEST_CHROMIUM`` points elsewhere (e.g. a distribution's path).
CHROMIUM = os.environ.get("MRI_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch(playwright: Any, executable: str = CHROMIUM) -> Any:
    """A Playwright ``Browser`` on ``executable`` with :data:`CHROMIUM_ARGS`."""
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
