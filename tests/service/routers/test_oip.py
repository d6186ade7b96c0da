"""Open Inference Protocol v2 with a real client (tritonclient[http]) against uvicorn on loopback.

The tiny models' answers are compared with direct model calls (``ModelRunner.call_model``) on the
same input; JSON and binary tensors; errors in the protocol's ``{"error": ...}`` form.
"""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from service.main import create_app
from service.settings import Settings
from tests.servers import serve_app
from tests.tiny_models import TINY_SIZE

CLASSIFIER, SEGMENTER = "tiny-classifier", "tiny-segmenter"


@pytest.fixture(scope="module")
def app(models_dir):
    return create_app(Settings(models_dir=models_dir, api_key="oip-key"))


@pytest.fixture(scope="module")
def url(app):
    with serve_app(app) as base:
        yield base


@pytest.fixture(scope="module")
def client(url):
    with triton.InferenceServerClient(url.removeprefix("http://")) as c:
        yield c


KEY = {"X-API-Key": "oip-key"}


def _batch(n: int, seed: int = 0) -> np.ndarray:
    """Raw intensities in [0, 255]: half the slices bright (tumour for the tiny models), half dark."""
    rng = np.random.default_rng(seed)
    batch = rng.uniform(0, 255, (n, TINY_SIZE, TINY_SIZE, 3)).astype(np.float32)
    batch[: n // 2, :, :, 1] = np.clip(batch[: n // 2, :, :, 1] + 100, 0, 255)
    batch[n // 2 :, :, :, 1] *= 0.3
    return batch


def _infer(client, model: str, batch: np.ndarray, binary: bool, outputs: list[str]):
    tensor = triton.InferInput("input", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch, binary_data=binary)
    requested = [triton.InferRequestedOutput(name, binary_data=binary) for name in outputs]
    return client.infer(
        model, [tensor], outputs=requested, headers=dict(KEY), request_id="req-7"
    )  # tritonclient adds to the dict


def test_server_metadata_liveness_and_readiness(client):
    metadata = client.get_server_metadata()
    assert metadata["name"] == "brain-mri-tumour"
    assert "binary_tensor_data" in metadata["extensions"]
    assert client.is_server_live() and client.is_server_ready()


@pytest.mark.parametrize(
    ("model", "outputs"),
    [
        (CLASSIFIER, [("tumour_probability", "FP32", [-1]), ("has_tumour", "BOOL", [-1])]),
        (
            SEGMENTER,
            [
                ("tumour_probability", "FP32", [-1, TINY_SIZE, TINY_SIZE]),
                ("mask", "BOOL", [-1, TINY_SIZE, TINY_SIZE]),
            ],
        ),
    ],
)
def test_model_metadata_names_inputs_outputs_and_devices(client, app, model, outputs):
    metadata = client.get_model_metadata(model, headers=KEY)
    runner = next(r for r in app.state.models.runners() if r.name == model)
    assert metadata["name"] == model and metadata["versions"] == [runner.version]
    assert metadata["inputs"] == [
        {"name": "input", "datatype": "FP32", "shape": [-1, TINY_SIZE, TINY_SIZE, 3]}
    ]
    assert [(o["name"], o["datatype"], o["shape"]) for o in metadata["outputs"]] == outputs
    assert any(d["type"] == "CPU" for d in metadata["devices"]) and metadata["inference_device"]
    assert client.is_model_ready(model)
    assert client.is_model_ready(model, model_version=runner.version)
    assert not client.is_model_ready(model, model_version="not-a-version")


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_classifier_infer_equals_direct_model_call(client, app, binary):
    batch = _batch(6)
    result = _infer(client, CLASSIFIER, batch, binary, ["tumour_probability", "has_tumour"])
    runner = app.state.models.classifier
    direct = runner.call_model(batch)[:, 0]
    probability = result.as_numpy("tumour_probability")
    assert probability.dtype == np.float32 and probability.shape == (6,)
    np.testing.assert_allclose(probability, direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result.as_numpy("has_tumour"), direct >= runner.threshold)
    assert result.as_numpy("has_tumour").tolist() == [True] * 3 + [False] * 3
    response = result.get_response()
    assert response["id"] == "req-7" and response["model_version"] == runner.version
    assert all(("parameters" in o) == binary for o in response["outputs"])


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_segmenter_infer_equals_direct_model_call(client, app, binary):
    batch = _batch(4, seed=1)
    result = _infer(client, SEGMENTER, batch, binary, ["tumour_probability", "mask"])
    runner = app.state.models.segmenter
    direct = runner.call_model(batch)[..., 0]
    probability = result.as_numpy("tumour_probability")
    assert probability.shape == (4, TINY_SIZE, TINY_SIZE)
    np.testing.assert_allclose(probability, direct, rtol=1e-5, atol=1e-6)
    mask = result.as_numpy("mask")
    np.testing.assert_array_equal(mask, direct >= runner.threshold)
    assert mask[:2].mean() > 0.5 > mask[2:].mean()  # the tiny segmenter marks bright FLAIR


def test_all_outputs_binary_when_none_requested(client):
    batch = _batch(2)
    tensor = triton.InferInput("input", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    result = client.infer(CLASSIFIER, [tensor], headers=dict(KEY))
    assert {o["name"] for o in result.get_response()["outputs"]} == {"tumour_probability", "has_tumour"}
    assert result.as_numpy("tumour_probability").shape == (2,)


def test_unknown_model_is_404_and_missing_key_401(client):
    with pytest.raises(InferenceServerException) as err:
        client.get_model_metadata("no-such-model", headers=KEY)
    assert err.value.status() == "404" and "no-such-model" in err.value.message()
    with pytest.raises(InferenceServerException) as err:
        client.get_model_metadata(CLASSIFIER)
    assert err.value.status() == "401"


def _post(
    url: str, body: bytes | dict, headers: dict | None = None, model: str = CLASSIFIER
) -> httpx.Response:
    content = json.dumps(body).encode() if isinstance(body, dict) else body
    return httpx.post(f"{url}/v2/models/{model}/infer", content=content, headers={**KEY, **(headers or {})})


def _tensor(data: list | None = None, shape: list[int] | None = None, datatype: str = "FP32") -> dict:
    shape = shape or [1, TINY_SIZE, TINY_SIZE, 3]
    if data is None:
        data = [10.0] * int(np.prod(shape))
    return {"inputs": [{"name": "input", "shape": shape, "datatype": datatype, "data": data}]}


@pytest.mark.parametrize(
    ("body", "headers", "needle"),
    [
        (b"{not json", None, "not a valid inference request"),
        ({"inputs": []}, None, "exactly one input"),
        (_tensor(shape=[1, 8, 8, 3]), None, "expected [N, 32, 32, 3]"),
        (_tensor(data=[1.0, 2.0]), None, "2 values for shape"),
        (_tensor(data=[300.0] * (TINY_SIZE * TINY_SIZE * 3)), None, "within [0, 255]"),
        (_tensor(datatype="INT32"), None, "must be FP32"),
        ({**_tensor(), "outputs": [{"name": "logits"}]}, None, "unknown output 'logits'"),
        (_tensor(), {"Inference-Header-Content-Length": "999999"}, "outside the body"),
        (_tensor(shape=[17, TINY_SIZE, TINY_SIZE, 3]), None, "1 <= N <= 16"),
    ],
    ids=["json", "no-input", "shape", "count", "range", "datatype", "output", "header-length", "batch"],
)
def test_bad_requests_are_400_in_the_protocol_error_form(url, body, headers, needle):
    response = _post(url, body, headers)
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]


def test_binary_size_must_match_the_bytes_sent(url):
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [1, TINY_SIZE, TINY_SIZE, 3],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 12},
                }
            ]
        }
    ).encode()
    response = _post(url, header + b"\0" * 12, {"Inference-Header-Content-Length": str(len(header))})
    assert response.status_code == 400 and "binary_data_size 12" in response.json()["error"]


def test_not_loaded_is_503_in_the_protocol_error_form(models_dir):
    from fastapi.testclient import TestClient

    app = create_app(Settings(models_dir=models_dir / "missing"))
    with TestClient(app) as test_client:
        response = test_client.get(f"/v2/models/{CLASSIFIER}/ready")
    assert response.status_code == 503 and "error" in response.json()


@pytest.mark.slow
def test_bundled_models_through_tritonclient_equal_direct_predictions():
    """lgg-classifier and lgg-segmenter on a real LGG slice, binary and JSON, vs the models called directly."""
    from contract.spec import to_model_input
    from service.images import ImageLimits, decode_image
    from service.settings import DEFAULT_MODELS_DIR
    from tests.service import samples

    app = create_app(Settings(models_dir=DEFAULT_MODELS_DIR))
    with serve_app(app) as base, triton.InferenceServerClient(base.removeprefix("http://")) as c:
        models = app.state.models
        assert {r.name for r in models.runners()} == {"lgg-classifier", "lgg-segmenter"}
        pixels = decode_image(samples.lgg_bytes(), None, ImageLimits(32, 4096, 4096**2, 4 * 4096**2)).pixels
        batch = to_model_input(pixels, models.classifier.input_size)[None]
        seg_batch = to_model_input(pixels, models.segmenter.input_size)[None]  # each model its own size
        for binary in (True, False):
            result = c.infer("lgg-classifier", [_input(batch, binary)])
            direct = models.classifier.call_model(batch)[:, 0]
            np.testing.assert_allclose(result.as_numpy("tumour_probability"), direct, rtol=1e-5, atol=1e-6)
            assert result.as_numpy("has_tumour").tolist() == [True]  # a tumour slice
            result = c.infer("lgg-segmenter", [_input(seg_batch, binary)])
            direct = models.segmenter.call_model(seg_batch)[..., 0]
            np.testing.assert_allclose(result.as_numpy("tumour_probability"), direct, rtol=1e-5, atol=1e-6)
            assert result.as_numpy("mask").sum() > 100


def _input(batch: np.ndarray, binary: bool):
    tensor = triton.InferInput("input", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch, binary_data=binary)
    return tensor
