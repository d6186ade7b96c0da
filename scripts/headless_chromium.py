"""How the page tools and tests start Chromium through Playwright: headless, no sandbox (containers,
root) and no background traffic, so that every request the browser makes is one the page made.

Debian's package (``apt-get install chromium``, what ``scripts/setup_env.sh test`` installs) is
used where it is; elsewhere the first Chromium or Chrome found on ``PATH``; ``MRI_TEST_CHROMIUM``
names another executable. Playwright downloads no browser.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

#: Tried in order when ``MRI_TEST_CHROMIUM`` is not set: Debian's path, then names on ``PATH``.
CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str | None:
    """The browser executable to drive (module docstring), None when there is none."""
    explicit = os.environ.get("MRI_TEST_CHROMIUM")
    for candidate in (explicit,) if explicit else CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


#: The executable found on this machine, or Debian's path (for messages) when none is.
CHROMIUM = find_chromium() or os.environ.get("MRI_TEST_CHROMIUM") or CANDIDATES[0]


def launch(playwright: Any, executable: str = CHROMIUM) -> Any:
    """A Playwright ``Browser`` on ``executable`` with :data:`CHROMIUM_ARGS`."""
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
