"""The volume view of ``GET /`` against the real ``POST /volume`` and the bundled models: a real
NIfTI volume (the twelve slices of a test patient, tests/fixtures/lgg-volume) uploaded in headless
Chromium, the page's view checked against the service's own answer to the same file."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np
import pytest

from tests.service import volume_samples as vs
from tests.service.web.conftest import Recorded
from tests.service.web.test_page import overlay_pixels, text

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TUMOUR_RED = [208, 48, 42]  # #d0302a: a tumour slice's bar in the strip
CLEAR_GREY = [154, 164, 178]  # #9aa4b2: any other slice's bar


def strip_colours(page: Any, n: int) -> list[list[int]]:
    """RGB of the bottom row of each slice's bar in the strip (bars grow from the bottom, 1 px at least)."""
    return page.evaluate(
        """(n) => { const c = document.getElementById('strip'); const ctx = c.getContext('2d');
                    const w = c.width / n; const out = [];
                    for (let i = 0; i < n; i++) {
                      const d = ctx.getImageData(Math.floor(i * w + w / 2), c.height - 1, 1, 1).data;
                      out.push([d[0], d[1], d[2]]); }
                    return out; }""",
        n,
    )


def test_real_nifti_volume_is_shown_with_the_services_volume_and_mask(bundled_server, open_page, tmp_path):
    images, truth = vs.real_volume()
    path = tmp_path / "TCGA_HT_7605_19950916.nii.gz"
    path.write_bytes(vs.nifti_bytes(images))
    # the service's own answers to the same file, without the page
    with path.open("rb") as f:
        served = httpx.post(
            f"{bundled_server}/volume",
            params={"mask_format": "rle"},
            files={"file": (path.name, f)},
            timeout=120,
        )
    assert served.status_code == 200, served.text
    answer = served.json()
    with path.open("rb") as f:
        served_nifti = httpx.post(f"{bundled_server}/volume", files={"file": (path.name, f)}, timeout=120)
    assert served_nifti.status_code == 200, served_nifti.text
    served_mask = vs.read_nifti_bytes(base64.b64decode(served_nifti.json()["mask"]["data"]))
    n = len(answer["per_slice"])
    tumour = answer["tumour_slices"]
    assert n == 12 and answer["shape"] == [12, 256, 256]
    assert 7 <= len(tumour) < n and answer["tumour_volume_ml"] > 1  # the expert marks 9 of 12

    rec: Recorded = open_page(bundled_server)
    page = rec.page
    page.goto(bundled_server + "/")
    page.wait_for_selector("#status.ready")
    page.set_input_files("#file", str(path))
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)

    # the volume view, not the slice view
    assert rec.page.locator("#error").is_hidden()
    assert page.locator("#volume-controls").is_visible() and page.locator("#download-nifti").is_visible()
    assert page.locator("#download-mask").is_hidden()
    assert text(page, "#file-name") == path.name
    assert text(page, "#verdict") == "Tumour found"

    # the volume in mL and the tumour slices are the service's
    facts = text(page, "#facts")
    assert f"Tumour volume\t{answer['tumour_volume_ml']:.2f} mL" in facts, facts
    assert f"Tumour voxels\t{answer['tumour_voxels']:,}" in facts
    assert f"{len(tumour)} of {n}: {', '.join(map(str, tumour))}" in facts
    spacing = " × ".join(f"{s:.2f}" for s in answer["spacing_mm"])
    assert answer["spacing_mm"][0] == pytest.approx(3.0)  # the slice axis first
    assert f"12 × 256 × 256 (slices × height × width), spacing {spacing} mm" in facts, facts
    assert f"Read as\t{answer['sequences']}" in facts
    models = answer["model"]
    assert (
        f"classifier: {models['classifier']['name']} {models['classifier']['version']}; "
        f"segmenter: {models['segmenter']['name']} {models['segmenter']['version']}"
    ) in facts
    assert page.evaluate("() => state.answer.tumour_volume_ml") == answer["tumour_volume_ml"]

    # the slider starts on the first tumour slice
    assert page.eval_on_selector("#slice", "s => [s.min, s.max, s.value]") == [
        "0",
        str(n - 1),
        str(tumour[0]),
    ]

    # tumour slices are marked red in the strip, the others grey (the bottom row of the shown
    # slice's bar is under its blue outline: read that one with another slice shown)
    colours = strip_colours(page, n)
    shown = tumour[0]
    page.fill("#slice", str((shown + 1) % n))
    colours[shown] = strip_colours(page, n)[shown]
    assert [i for i, c in enumerate(colours) if c == TUMOUR_RED] == tumour, colours
    assert all(c == CLEAR_GREY for i, c in enumerate(colours) if i not in tumour), colours

    # the slider: every slice shows the service's mask and probability
    for i in range(n):
        page.fill("#slice", str(i))
        pixels = answer["per_slice"][i]["tumour_pixels"]
        assert overlay_pixels(page) == pixels, i
        p = 100 * answer["per_slice"][i]["tumour_probability"]
        assert text(page, "#slice-label").startswith(f"{i} (0–{n - 1}): p = {p:.1f} %"), i
        assert f"{pixels:,} tumour pixels" in text(page, "#slice-label")
    clear = next(i for i in range(n) if i not in tumour)
    page.fill("#slice", str(clear))
    assert overlay_pixels(page) == 0

    # the .nii.gz mask: the service's mask on the input's grid
    with page.expect_download(timeout=120_000) as download:
        page.click("#download-nifti")
    assert download.value.suggested_filename == "TCGA_HT_7605_19950916_mask.nii.gz"
    mask = vs.read_nifti_bytes(download.value.path().read_bytes())
    sent = vs.nifti_image(images)
    assert mask.shape == sent.shape[:3]
    np.testing.assert_allclose(mask.affine, sent.affine, atol=1e-5)
    assert np.array_equal(np.asarray(mask.dataobj), np.asarray(served_mask.dataobj))
    assert int(np.asarray(mask.dataobj).sum()) == answer["tumour_voxels"]
    expert = np.asarray(vs.nifti_image(truth.astype(np.uint8)).dataobj) > 0
    assert vs.dice(np.asarray(mask.dataobj) > 0, expert) >= 0.75

    # every request stayed on the service's origin
    assert rec.foreign() == []
    volume_posts = [url for url in rec.urls if url.startswith(bundled_server + "/volume")]
    assert volume_posts == [
        f"{bundled_server}/volume?mask_format=rle",
        f"{bundled_server}/volume?mask_format=nifti",
    ]
    assert rec.console_errors == []


def test_a_volume_is_held_to_the_volume_limit_not_the_slice_one(make_server, open_page, models_dir, tmp_path):
    """The page tells a volume from a slice before it checks the size: a volume larger than a slice
    request may be goes to POST /volume; one larger than /volume takes is refused without sending."""
    volume, _ = vs.synthetic_volume(slices=8, size=64)
    path = tmp_path / "synthetic.nii"
    path.write_bytes(vs.nifti_bytes(volume, gz=False))
    size = path.stat().st_size

    base = make_server(models_dir=models_dir, max_upload_bytes=size // 4)  # the tiny models
    rec = open_page(base)
    rec.page.goto(base + "/")
    rec.page.wait_for_selector("#status.ready")
    rec.page.set_input_files("#file", str(path))
    rec.page.wait_for_selector("#result:not([hidden])")
    assert rec.page.locator("#error").is_hidden() and rec.page.locator("#volume-controls").is_visible()
    assert [url for url in rec.urls if url.startswith(base + "/volume")] == [f"{base}/volume?mask_format=rle"]

    limit = size // 2048 * 1024  # whole KiB, as the page words it
    base = make_server(models_dir=models_dir, max_upload_bytes=size * 4, max_volume_upload_bytes=limit)
    rec = open_page(base)
    rec.page.goto(base + "/")
    rec.page.wait_for_selector("#status.ready")
    rec.page.set_input_files("#file", str(path))
    rec.page.wait_for_selector("#error:not([hidden])")
    assert f"accepts at most {limit // 1024} KiB per volume" in text(rec.page, "#error-text")
    detail = text(rec.page, "#error-detail")
    assert f"{size} bytes; this service takes at most {limit} bytes per volume" in detail
    assert not any(url.startswith(base + "/volume") for url in rec.urls), "nothing was sent"
    assert rec.foreign() == [] and rec.console_errors == []
