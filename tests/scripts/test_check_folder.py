"""scripts/check_folder.py against the real service (loopback, bundled models) on real LGG slices.

The figures the script prints are checked against figures this test computes on its own from the
same service's answers: the masks read with Pillow, the RLE decoded with pycocotools, Dice counted
here. So the test holds whatever models are bundled, and fails when the script miscounts.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import httpx
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco

from scripts import check_folder
from service.settings import DEFAULT_MODELS_DIR
from tests.project import REPO
from tests.servers import bound_socket, serve_app, service_app

pytestmark = pytest.mark.slow

DATASET = REPO / "tests" / "fixtures" / "lgg" / "kaggle_3m"  # 3 cases, 7 slices, 4 of them tumour


def _script():
    return check_folder


@pytest.fixture(scope="module")
def bundled_url():
    with serve_app(service_app(DEFAULT_MODELS_DIR)) as url:
        yield url


def _expected(url: str, folder) -> dict:
    """Accuracy, tumour-slice Dice and per-case volume Dice, computed independently of the script."""
    correct = total = 0
    tumour_dice, volumes = [], {}
    for case in sorted(p for p in folder.iterdir() if p.is_dir()):
        for mask_path in sorted(case.glob("*_mask.*")):
            image = next(p for p in case.iterdir() if p.stem == mask_path.stem[: -len("_mask")])
            truth = np.asarray(Image.open(mask_path)) > 0
            files = {"file": (image.name, image.read_bytes())}
            answer = httpx.post(f"{url}/analyze", files=files, timeout=60).json()
            seg = answer["segmentation"]
            pred = (
                np.zeros_like(truth)
                if seg is None
                else coco.decode(coco.frPyObjects(seg["mask"], 256, 256)) > 0
            )
            total += 1
            correct += answer["classification"]["has_tumour"] == bool(truth.any())
            both = truth.sum() + pred.sum()
            score = 1.0 if both == 0 else 2 * (truth & pred).sum() / both
            if truth.any():
                tumour_dice.append(score)
            t, p = volumes.setdefault(case.name, ([], []))
            t.append(truth)
            p.append(pred)
    volume = {
        c: 2 * (np.stack(t) & np.stack(p)).sum() / (np.stack(t).sum() + np.stack(p).sum())
        for c, (t, p) in volumes.items()
    }
    return {
        "accuracy": correct / total,
        "slices": total,
        "tumour": len(tumour_dice),
        "tumour_dice": np.mean(tumour_dice),
        "volume": volume,
    }


def test_the_printed_figures_are_the_measured_ones(bundled_url, caplog):
    with caplog.at_level(logging.INFO, logger="check_folder"):
        assert _script().main([str(DATASET), "--url", bundled_url]) == 0
    expected = _expected(bundled_url, DATASET)
    text = caplog.text
    assert (expected["slices"], expected["tumour"]) == (7, 4)
    correct = round(expected["accuracy"] * 7)
    assert f"slices 7 (tumour 4): classification accuracy {expected['accuracy']:.3f} ({correct}/7)" in text
    assert f"mean Dice on tumour slices {expected['tumour_dice']:.3f}" in text
    for case, score in expected["volume"].items():
        assert f"case {case}: volume Dice {score:.3f}" in text
    mean_volume = np.mean(list(expected["volume"].values()))
    assert f"mean volume Dice over 3 cases {mean_volume:.3f}" in text
    assert "TCGA_HT_7605_19950916_26.jpg             truth tumour" in text


def test_minimums_gate_the_exit_status(bundled_url, caplog):
    case = DATASET / "TCGA_CS_4942_19970222"
    script = _script()
    report = script.check(script.find_slices(case), _client(script, bundled_url))
    args = [str(case), "--url", bundled_url]
    with caplog.at_level(logging.INFO, logger="check_folder"):
        assert (
            script.main(
                [
                    *args,
                    "--min-accuracy",
                    f"{report.accuracy}",
                    "--min-dice",
                    f"{report.mean_volume_dice - 1e-9}",
                ]
            )
            == 0
        )
        assert script.main([*args, "--min-accuracy", f"{report.accuracy + 0.01}"]) == 1
        assert script.main([*args, "--min-dice", f"{report.mean_volume_dice + 0.001}"]) == 1
    assert "FAILED: accuracy" in caplog.text and "FAILED: mean volume Dice" in caplog.text


def _client(script, url):
    return script.MRIClient(url, retries=0)


def test_a_case_folder_is_only_that_case():
    script = _script()
    slices = script.find_slices(DATASET / "TCGA_CS_4942_19970222")
    assert [(s.case, s.number) for s in slices] == [("TCGA_CS_4942_19970222", n) for n in (11, 13, 17)]
    assert len(script.find_slices(DATASET)) == 7


def test_an_empty_folder_or_a_dead_url_exits_2_with_a_message(tmp_path, caplog):
    script = _script()
    with caplog.at_level(logging.INFO, logger="check_folder"):
        assert script.main([str(tmp_path), "--url", "http://127.0.0.1:9"]) == 2
        assert f"no labelled slices in {tmp_path}" in caplog.text
        with bound_socket() as sock:  # bound, never listening: the script gives up after its --wait
            status = script.main(
                [str(DATASET), "--url", f"http://127.0.0.1:{sock.getsockname()[1]}", "--wait", "1"]
            )
        assert status == 2
    assert "is not ready after 1 s: cannot connect" in caplog.text and "nothing checked" in caplog.text


def test_the_script_does_not_import_training():
    code = (
        "import sys, scripts.check_folder\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'training', 'sklearn', 'tensorflow', 'keras'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.strip() == "[]"
