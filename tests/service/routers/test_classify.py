"""POST /classify on the tiny models with every input kind."""

from __future__ import annotations

import numpy as np
import pytest

from contract.spec import FLAIR_CHANNEL, JOINT_FILE, file_version, to_model_input
from tests.service import samples


def _post(client, data: bytes, name: str = "slice", content_type: str = "application/octet-stream"):
    return client.post("/classify", files={"file": (name, data, content_type)})


def test_positive_and_negative_slices(client, models_dir):
    positive = _post(client, samples.png_bytes(samples.positive_image()), "pos.png", "image/png")
    negative = _post(client, samples.png_bytes(samples.negative_image()), "neg.png", "image/png")

    assert positive.status_code == 200 and negative.status_code == 200
    body = positive.json()
    assert set(body) == {"tumour_probability", "has_tumour", "threshold", "sequences", "model"}
    assert body["has_tumour"] is True and body["tumour_probability"] > 0.9
    assert body["threshold"] == 0.5
    assert body["model"] == {"name": "tiny-classifier", "version": file_version(models_dir / JOINT_FILE)}
    assert negative.json()["has_tumour"] is False and negative.json()["tumour_probability"] < 0.1


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda img: samples.png_bytes(img), id="png-rgb8"),
        pytest.param(lambda img: samples.jpeg_bytes(img), id="jpeg-rgb"),
        pytest.param(lambda img: samples.jpeg_bytes(img[..., 1]), id="jpeg-grey"),
        pytest.param(lambda img: samples.tiff_bytes(img, photometric="rgb"), id="tiff-rgb8"),
        pytest.param(lambda img: samples.png_bytes(img[..., 1]), id="png-grey8"),
        pytest.param(lambda img: samples.png_bytes(img[..., 1].astype(np.uint16) * 257), id="png-grey16"),
        pytest.param(lambda img: samples.png_bytes(img.astype(np.uint16) * 257), id="png-rgb16"),
        pytest.param(
            lambda img: samples.png_bytes(np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])),
            id="png-rgba",
        ),
        pytest.param(
            lambda img: samples.tiff_bytes(img.astype(np.uint16) * 100, photometric="rgb"), id="tiff-rgb16"
        ),
        pytest.param(lambda img: samples.dicom_bytes(img[..., 1].astype(np.uint16) * 16), id="dicom-grey16"),
    ],
)
def test_every_input_kind_gives_the_same_answer(client, encode):
    positive = _post(client, encode(samples.positive_image()))
    negative = _post(client, encode(samples.negative_image()))

    assert positive.status_code == 200, positive.text
    assert negative.status_code == 200, negative.text
    assert positive.json()["has_tumour"] is True
    assert negative.json()["has_tumour"] is False


@pytest.mark.parametrize("name", [samples.TUMOUR_SLICE, samples.HEALTHY_SLICE])
def test_dataset_tif_slice(client, name):
    """The tiny classifier computes sigmoid(20 * mean FLAIR / 255 - 10) of the 32x32 model input:
    the answer must be that number for the dataset's own TIFF, resized as the contract says."""
    response = _post(client, samples.lgg_bytes(name), name, "image/tiff")

    flair = to_model_input(samples.lgg_pixels(name), 32)[..., FLAIR_CHANNEL] / 255.0
    expected = 1.0 / (1.0 + np.exp(-(20.0 * flair.mean() - 10.0)))
    assert response.status_code == 200
    assert response.json()["tumour_probability"] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert response.json()["has_tumour"] is bool(expected >= 0.5)


def test_several_files_are_answered_in_order_as_one_batch(client, monkeypatch):
    runner = client.app.state.models.classifier
    batches = []
    predict = runner.predict
    monkeypatch.setattr(runner, "predict", lambda batch: batches.append(batch.shape) or predict(batch))
    order = [True, False, False, True, True]
    files = [
        (
            "files",
            (
                f"s{i}.png",
                samples.png_bytes(samples.positive_image() if p else samples.negative_image()),
                "image/png",
            ),
        )
        for i, p in enumerate(order)
    ]

    response = client.post("/classify", files=files)

    assert response.status_code == 200
    assert [r["has_tumour"] for r in response.json()["results"]] == order
    assert batches == [(5, 32, 32, 3)]


def test_one_file_in_files_is_still_a_batch_answer(client):
    response = client.post(
        "/classify", files=[("files", ("a.png", samples.png_bytes(samples.positive_image()), "image/png"))]
    )

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_bad_file_in_a_batch_names_it(client):
    files = [
        ("files", ("good.png", samples.png_bytes(samples.positive_image()), "image/png")),
        ("files", ("bad.txt", b"not an image at all", "text/plain")),
    ]

    response = client.post("/classify", files=files)

    assert response.status_code == 415
    assert response.json()["detail"].startswith("files[1] (bad.txt): ")


def test_concurrent_requests_get_their_own_answers(client):
    from concurrent.futures import ThreadPoolExecutor

    kinds = [i % 3 == 0 for i in range(12)]

    def post(positive: bool) -> bool:
        image = samples.positive_image(48) if positive else samples.negative_image(80)
        response = _post(client, samples.png_bytes(image))
        assert response.status_code == 200
        return response.json()["has_tumour"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(post, kinds)) == kinds
