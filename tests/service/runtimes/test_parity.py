"""Every runtime, thread count and precision the service may pick gives Keras' verdicts and masks on
real slices: the bundled models and the tiny ones.

Slices: the committed fixtures (tests/fixtures/lgg) and the LGG sample of the shared data folder
(../shared/data/lgg-tif-sample, beside the repository; CI has it). Answers are the service's own
(:mod:`service.pipeline`): probabilities within 1e-4 of Keras, the same verdict, the same mask
(after thresholding and post-processing, at the upload's size), pixel for pixel.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from contract.exports import PARITY_TOLERANCE
from service import pipeline
from service.cores import usable_cores
from service.images import ImageLimits, decode_image
from service.inference import ExportMismatch, LoadedModels, load_models
from service.runtimes import get_runtime
from service.runtimes.selection import Candidate
from service.settings import DEFAULT_MODELS_DIR, Settings
from tests.service import samples
from tests.service.runtimes.conftest import max_difference

REPO = Path(__file__).resolve().parents[3]
LGG_SAMPLE = REPO.parent / "shared" / "data" / "lgg-tif-sample"
ONNX_RUNTIMES = ("onnxruntime", "openvino")


def candidates() -> list[Candidate]:
    """What ``MRI_RUNTIME=auto`` may serve here: each ONNX runtime at one thread and at every core,
    OpenVINO also in each reduced precision this CPU offers (served only when it passes the probe)."""
    threads = sorted({1, usable_cores()})
    found = [Candidate(name, t) for name in ONNX_RUNTIMES for t in threads]
    return found + [Candidate("openvino", 1, p) for p in get_runtime("openvino").reduced_precisions()]


def real_slices() -> list[Path]:
    """Fixture slices and the LGG sample's (masks left out)."""
    if not LGG_SAMPLE.is_dir():
        message = f"the LGG sample is not at {LGG_SAMPLE}"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    paths = [*samples.LGG_DIR.rglob("*"), *LGG_SAMPLE.rglob("*")]
    return sorted(p for p in paths if p.suffix in {".tif", ".jpg"} and not p.stem.endswith("_mask"))


@pytest.fixture(scope="module")
def slices():
    decoded = [decode_image(p.read_bytes(), None, ImageLimits()) for p in real_slices()]
    assert len(decoded) >= 25
    return decoded


def answers(models: LoadedModels, slices) -> dict:
    """The service's classifications and segmentations of every slice, and the raw probabilities."""
    pixels = [s.pixels for s in slices]
    return {
        "classify": pipeline.classify(models, slices),
        "segment": pipeline.segment(models, slices, "rle"),
        "probabilities": models.segmenter.predict(models.segmenter.prepare(pixels)),
    }


def assert_parity(expected: dict, actual: dict) -> None:
    for e, a in zip(expected["classify"], actual["classify"], strict=True):
        assert abs(e.tumour_probability - a.tumour_probability) <= PARITY_TOLERANCE
        assert e.has_tumour == a.has_tumour
    assert max_difference(expected["probabilities"], actual["probabilities"]) <= PARITY_TOLERANCE
    for e, a in zip(expected["segment"], actual["segment"], strict=True):
        assert (e.mask.counts, e.tumour_pixels, e.bbox) == (a.mask.counts, a.tumour_pixels, a.bbox)


def _load(models_dir: Path, runtime: str | Candidate) -> LoadedModels:
    if isinstance(runtime, str):
        return load_models(Settings(models_dir=models_dir, runtime=runtime, batching=False))
    try:
        return load_models(Settings(models_dir=models_dir, batching=False), candidate=runtime)
    except ExportMismatch as exc:
        if runtime.precision is None:
            raise
        pytest.skip(f"{runtime.label} is refused by the probe when loading, so never served: {exc}")


@pytest.fixture(scope="module")
def bundled_keras(slices):
    return answers(_load(DEFAULT_MODELS_DIR, "keras"), slices)


@pytest.mark.slow
@pytest.mark.parametrize("runtime", candidates(), ids=lambda c: c.label)
def test_bundled_models_same_verdicts_and_masks_as_keras(slices, bundled_keras, runtime):
    actual = answers(_load(DEFAULT_MODELS_DIR, runtime), slices)
    assert_parity(bundled_keras, actual)
    verdicts = [c.has_tumour for c in actual["classify"]]
    assert any(verdicts) and not all(verdicts), "the slices hold tumour and healthy ones"


@pytest.mark.parametrize("runtime", candidates(), ids=lambda c: c.label)
def test_tiny_models_same_verdicts_and_masks_as_keras(models_dir, slices, runtime):
    synthetic = [
        decode_image(samples.png_bytes(image), "image/png", ImageLimits())
        for image in (
            samples.positive_image(),
            samples.negative_image(),
            samples.flair_image(samples.square_mask(80, 9, 30, 41)),
        )
    ]
    inputs = [*slices, *synthetic]
    expected = answers(_load(models_dir, "keras"), inputs)
    actual = answers(_load(models_dir, runtime), inputs)
    assert_parity(expected, actual)
    assert np.any([s.tumour_pixels for s in actual["segment"]]), "some masks are not empty"
