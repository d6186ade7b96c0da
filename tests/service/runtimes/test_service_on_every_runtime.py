"""The HTTP service runs unchanged on every runtime: batches, cross-request batching, /volume, OIP, page."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.main import create_app
from service.runtimes import RUNTIMES
from service.settings import Settings
from tests.service import samples
from tests.service import volume_samples as vs
from tests.service.apps import started
from tests.service.runtimes.conftest import assert_same_answer

SLICES = [
    samples.lgg_bytes(),
    samples.lgg_bytes(samples.HEALTHY_SLICE),
    samples.png_bytes(samples.positive_image()),
]


def _exchange(client) -> dict:
    """The answers of one app to the same requests, one of each kind."""
    files = [("files", (f"s{i}", data, "application/octet-stream")) for i, data in enumerate(SLICES)]
    volume, _ = vs.synthetic_volume()
    batch = np.stack([samples.positive_image(32), samples.negative_image(32)]).astype(np.float32)
    infer = {
        "inputs": [
            {"name": "input", "shape": list(batch.shape), "datatype": "FP32", "data": batch.ravel().tolist()}
        ]
    }
    with ThreadPoolExecutor(max_workers=6) as pool:  # requests arriving together share model calls
        concurrent = list(pool.map(lambda d: client.post("/segment", files={"file": ("s", d)}), SLICES * 4))
    answers = {
        "analyze": client.post("/analyze", files=files),
        "classify": client.post("/classify", files=files),
        "volume": client.post(
            "/volume", files={"file": ("v.nii.gz", vs.nifti_bytes(volume), "application/gzip")}
        ),
        "infer": client.post("/v2/models/tiny-segmenter/infer", json=infer),
        "concurrent": concurrent,
    }
    for name, response in answers.items():
        for r in response if isinstance(response, list) else [response]:
            assert r.status_code == 200, f"{name}: {r.text[:300]}"
    result = {k: [r.json() for r in v] if isinstance(v, list) else v.json() for k, v in answers.items()}
    result["infer"].pop("id", None)
    return result


@pytest.fixture(scope="module")
def keras_answers(models_dir):
    with started(create_app(Settings(models_dir=models_dir, runtime="keras"))) as client:
        return _exchange(client)


@pytest.mark.parametrize("runtime", [r for r in RUNTIMES if r != "keras"])
def test_answers_equal_keras_on_every_endpoint(models_dir, keras_answers, runtime):
    with started(create_app(Settings(models_dir=models_dir, runtime=runtime))) as client:
        answers = _exchange(client)
        models = client.get("/v2/models").json()
        metadata = client.get("/v2/models/tiny-segmenter").json()
        page = client.get("/")

    assert_same_answer(keras_answers, answers)
    assert answers["concurrent"] == [answers["concurrent"][i % len(SLICES)] for i in range(len(SLICES) * 4)]
    assert models["runtime"] == runtime and metadata["parameters"]["runtime"] == runtime
    assert metadata["platform"] == {"onnxruntime": "onnxruntime_onnx", "openvino": "openvino"}[runtime]
    assert page.status_code == 200 and "<html" in page.text.lower()
