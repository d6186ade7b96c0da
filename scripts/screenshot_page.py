"""Screenshots of the page of ``GET /`` after real answers of the bundled models.

Starts the service on 127.0.0.1 (scripts/serving.py), opens the page in
headless Debian Chromium (``/usr/bin/chromium``) through Playwright, uploads each slice and saves
a PNG of the page per slice. Every request the page makes is printed at the end with its origin.

    python -m scripts.screenshot_page                       # docs/page-*.png
    python -m scripts.screenshot_page --out /tmp/shots IMAGE...
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from playwright.sync_api import sync_playwright

from scripts.headless_chromium import CHROMIUM, launch
from scripts.serving import REPO, serve_app, service_app

LGG = REPO / "tests/fixtures/lgg/kaggle_3m"
DEFAULT_SLICES = [
    LGG / "TCGA_CS_4942_19970222/TCGA_CS_4942_19970222_11.tif",
    LGG / "TCGA_FG_7634_20000128/TCGA_FG_7634_20000128_22.jpg",
]
logger = logging.getLogger("screenshot")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", type=Path, default=DEFAULT_SLICES, help="slices to upload")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models", help="the models folder")
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="folder for page-<slice>.png")
    parser.add_argument("--chromium", default=CHROMIUM, help="Chromium executable")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)

    requests: list[str] = []
    with serve_app(service_app(args.models_dir)) as url, sync_playwright() as playwright:
        browser = launch(playwright, args.chromium)
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        page.on("request", lambda request: requests.append(request.url))
        page.goto(url + "/")
        page.wait_for_selector("#status.ready")
        for image in args.images:
            page.set_input_files("#file", str(image))
            page.wait_for_function(
                "name => document.getElementById('file-name').textContent === name"
                " || !document.getElementById('error').hidden",
                arg=image.name,
            )
            shot = args.out / f"page-{image.stem}.png"
            page.screenshot(path=str(shot), full_page=True)
            logger.info(
                "%s: %s, %s (%d bytes)",
                image.name,
                page.inner_text("#verdict"),
                shot,
                shot.stat().st_size,
            )
        browser.close()
    foreign = [r for r in requests if not r.startswith((url, "data:", "blob:"))]
    logger.info("%d requests by the page, %d to another origin %s", len(requests), len(foreign), foreign)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
