"""The page of ``GET /`` driven in headless Chromium against the real app and the bundled models.

Every test records the requests of the page (and of /docs, /redoc) and checks that none left the
service's origin.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest

import service.main
from contract import read_card
from service.settings import DEFAULT_MODELS_DIR as MODELS_DIR
from tests.service import samples
from tests.service.web.conftest import Recorded

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TUMOUR = samples.lgg_path(samples.TUMOUR_SLICE)
HEALTHY = samples.lgg_path(samples.HEALTHY_SLICE)


def overlay_pixels(page: Any) -> int:
    """Number of drawn (non-transparent) pixels of the mask canvas."""
    return page.evaluate(
        """() => { const c = document.getElementById('overlay');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    )


def image_pixels(page: Any) -> dict[str, int]:
    """Size and sum of the RGB values of the image canvas (0 when nothing is drawn)."""
    return page.evaluate(
        """() => { const c = document.getElementById('image');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2];
                   return {width: c.width, height: c.height, sum: s}; }"""
    )


def upload(page: Any, path: Path) -> None:
    page.set_input_files("#file", str(path))


def text(page: Any, selector: str) -> str:
    return page.locator(selector).inner_text()


def test_tumour_slice_shows_probability_and_mask(bundled_server, open_page, tmp_path):
    rec: Recorded = open_page(bundled_server)
    page = rec.page
    page.goto(bundled_server + "/")
    page.wait_for_selector("#status.ready")
    assert "not for diagnosis" in text(page, "#research-notice")
    assert page.locator("#key-section").is_hidden()

    upload(page, TUMOUR)
    page.wait_for_selector("#result:not([hidden])")

    assert text(page, "#verdict") == "Tumour found"
    facts = text(page, "#facts")
    threshold = read_card(MODELS_DIR)["models"]["classifier"]["threshold"]
    assert re.search(
        rf"Tumour probability\t(?:0\.9\d*|1\.0+) \(tumour at {threshold:.3f} or more\)", facts
    ), facts
    assert "lgg-classifier" in facts and "lgg-segmenter" in facts
    drawn = overlay_pixels(page)
    # the canvas shows exactly the pixels of the mask the service answered
    assert f"{drawn:,} pixels" in facts
    assert 1000 < drawn < 3000
    assert image_pixels(page)["width"] == 256 and image_pixels(page)["sum"] > 0

    page.fill("#opacity", "80")
    assert page.eval_on_selector("#overlay", "c => c.style.opacity") == "0.8"

    with page.expect_download() as download:
        page.click("#download-mask")
    assert download.value.suggested_filename == "TCGA_CS_4942_19970222_11_mask.png"
    mask = samples.cv2.imread(download.value.path(), samples.cv2.IMREAD_UNCHANGED)
    assert mask.shape == (256, 256) and int((mask > 0).sum()) == drawn
    with page.expect_download() as download:
        page.click("#download-json")
    assert download.value.suggested_filename == "TCGA_CS_4942_19970222_11.analysis.json"
    assert '"tumour_probability"' in Path(download.value.path()).read_text()

    assert rec.foreign() == []
    assert any(url.endswith("/analyze?mask_format=png") for url in rec.urls)
    assert rec.console_errors == []


def test_healthy_slice_has_no_mask(bundled_server, open_page):
    rec = open_page(bundled_server)
    rec.page.goto(bundled_server + "/")
    upload(rec.page, HEALTHY)
    rec.page.wait_for_selector("#result:not([hidden])")

    assert text(rec.page, "#verdict") == "No tumour found"
    assert overlay_pixels(rec.page) == 0
    assert rec.page.locator("#download-mask").is_disabled()
    assert rec.foreign() == []


def test_text_file_is_refused_in_plain_words(bundled_server, open_page, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image\n")
    rec = open_page(bundled_server)
    rec.page.goto(bundled_server + "/")
    upload(rec.page, notes)
    rec.page.wait_for_selector("#error:not([hidden])")

    assert "not an image the service can read" in text(rec.page, "#error-text")
    assert "HTTP 415" in text(rec.page, "#error-detail")
    assert rec.page.locator("#result").is_hidden()
    assert rec.foreign() == []


def test_too_large_file_is_refused_in_plain_words(make_server, open_page, models_dir):
    size = TUMOUR.stat().st_size  # 197 KB
    # a file over the limit is refused by the page itself, without sending it
    base = make_server(models_dir=models_dir, max_upload_bytes=20_000)
    rec = open_page(base)
    rec.page.goto(base + "/")
    upload(rec.page, TUMOUR)
    rec.page.wait_for_selector("#error:not([hidden])")
    assert "too large" in text(rec.page, "#error-text") and "20000 bytes" in text(rec.page, "#error-detail")
    assert not any(url.startswith(base + "/analyze") for url in rec.urls)

    # a file that fits but whose request (with the form's overhead) does not: the service's 413
    base = make_server(models_dir=models_dir, max_upload_bytes=size + 50)
    rec = open_page(base)
    rec.page.goto(base + "/")
    upload(rec.page, TUMOUR)
    rec.page.wait_for_selector("#error:not([hidden])")
    assert "too large" in text(rec.page, "#error-text")
    assert "HTTP 413: request body larger than" in text(rec.page, "#error-detail")
    assert any(url.startswith(base + "/analyze") for url in rec.urls)


def test_api_key_field_appears_and_is_sent(make_server, open_page):
    base = make_server(api_key="s3cret")
    rec = open_page(base)
    page = rec.page
    page.goto(base + "/")
    page.wait_for_selector("#key-section:not([hidden])")

    upload(page, TUMOUR)
    page.wait_for_selector("#error:not([hidden])")
    assert "API key" in text(page, "#error-text") and "HTTP 401" in text(page, "#error-detail")

    page.fill("#api-key", "s3cret")
    page.click("#retry")
    page.wait_for_selector("#result:not([hidden])")
    assert page.locator("#error").is_hidden()
    assert text(page, "#verdict") == "Tumour found" and overlay_pixels(page) > 1000
    assert rec.foreign() == []


def test_page_says_while_models_load_then_analyses(make_server, open_page, models_dir, monkeypatch):
    """The models load (gated here until the page has said so): the page shows it, and a slice
    dropped meanwhile (answered 503) is analysed once the models are ready."""
    gate = threading.Event()
    load = service.main.load_models
    monkeypatch.setattr(service.main, "load_models", lambda *a: gate.wait(60) and load(*a))
    base = make_server(models_dir=models_dir, wait_ready=False)
    rec = open_page(base)
    page = rec.page
    page.goto(base + "/")
    page.wait_for_selector("#status.loading")
    upload(page, TUMOUR)
    page.wait_for_selector("#error:not([hidden])")
    assert "still loading" in text(page, "#error-text")

    gate.set()
    page.wait_for_selector("#status.ready", timeout=60_000)
    page.wait_for_selector("#result:not([hidden])")
    assert "tiny-classifier" in text(page, "#facts")
    assert rec.foreign() == []


def test_models_that_cannot_load_are_reported(make_server, open_page, tmp_path):
    base = make_server(models_dir=tmp_path / "empty", wait_ready=False)
    rec = open_page(base)
    rec.page.goto(base + "/")
    rec.page.wait_for_selector("#status.failed")
    assert "could not be loaded" in text(rec.page, "#status")


@pytest.mark.parametrize(("path", "rendered"), [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")])
def test_api_docs_render_offline(bundled_server, open_page, path, rendered):
    rec = open_page(bundled_server)
    rec.page.goto(bundled_server + path)
    rec.page.wait_for_selector(rendered)

    assert "Brain MRI tumour detection" in rec.page.locator(rendered).first.inner_text()
    assert "/openapi.json" in " ".join(rec.urls)
    assert rec.foreign() == []
    # the ReDoc bundle links its logo from its CDN; the page's policy keeps the browser from asking
    assert all("redoc" in url for url in rec.blocked())


def test_dicom_slice_is_shown_with_its_area_in_mm2(bundled_server, open_page, tmp_path):
    """A 16-bit grey DICOM (the FLAIR channel of the tumour slice, 0.5 mm pixels): the browser
    cannot show it, the page shows the service's preview and the area in mm²."""
    flair = samples.lgg_pixels()[..., 1].astype("uint16") * 16
    path = tmp_path / "IM0011.dcm"
    path.write_bytes(samples.dicom_bytes(flair, spacing=(0.5, 0.5)))
    rec = open_page(bundled_server)
    rec.page.goto(bundled_server + "/")
    upload(rec.page, path)
    rec.page.wait_for_selector("#result:not([hidden])")

    grey = rec.page.evaluate(
        """() => { const c = document.getElementById('image');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let off = 0, lit = 0; for (let i = 0; i < d.length; i += 4) {
                     if (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2]) off++; if (d[i] > 0) lit++; }
                   return {off, lit}; }"""
    )
    assert grey["off"] == 0 and grey["lit"] > 10_000
    drawn = overlay_pixels(rec.page)
    assert drawn > 1000
    shown = re.search(r"([\d.]+) mm²", text(rec.page, "#facts"))
    assert shown and abs(float(shown.group(1)) - drawn * 0.25) < 0.051
    assert rec.foreign() == []


def test_page_decodes_coco_rle_like_the_service(bundled_server, open_page):
    """The volume view draws per-slice COCO RLE masks: the page's decoder against service.masks."""
    import numpy as np

    from service.masks import rle_counts

    rng = np.random.default_rng(0)
    mask = rng.random((37, 53)) > 0.6
    mask[0, 0] = True  # a leading 0 run
    rec = open_page(bundled_server)
    rec.page.goto(bundled_server + "/")
    bits = rec.page.evaluate(
        "rle => Array.from(rleBits(rle))", {"size": [37, 53], "counts": rle_counts(mask)}
    )

    assert np.array_equal(np.array(bits, dtype=bool).reshape(37, 53), mask)


def test_dropped_slice_is_analysed(bundled_server, open_page):
    """Drag and drop: a DataTransfer holding the real JPEG slice of a test patient."""
    import base64

    path = samples.lgg_path("TCGA_FG_7634_20000128/TCGA_FG_7634_20000128_22.jpg")
    rec = open_page(bundled_server)
    page = rec.page
    page.goto(bundled_server + "/")
    transfer = page.evaluate_handle(
        """([name, data]) => { const t = new DataTransfer();
             const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
             t.items.add(new File([bytes], name, {type: 'image/jpeg'})); return t; }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )
    page.dispatch_event("#drop", "dragover", {"dataTransfer": transfer})
    assert "over" in page.get_attribute("#drop", "class")
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    page.wait_for_selector("#result:not([hidden])")

    assert text(page, "#file-name") == path.name
    assert text(page, "#verdict") == "Tumour found" and overlay_pixels(page) > 1000
    assert "over" not in page.get_attribute("#drop", "class")
    assert rec.foreign() == []
