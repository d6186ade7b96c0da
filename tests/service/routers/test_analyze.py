"""POST /analyze: one pass of the model file per input path answers both roles; a mask only for the
slices the classifier calls positive (the tiny card's gate, ``classifier``)."""

from __future__ import annotations

from tests.service import samples


def _file(name: str, image) -> tuple[str, tuple[str, bytes, str]]:
    return ("files", (name, samples.png_bytes(image), "image/png"))


def test_positive_slice_is_segmented(client):
    response = client.post(
        "/analyze", files={"file": ("p.png", samples.png_bytes(samples.positive_image()), "image/png")}
    )

    body = response.json()
    assert response.status_code == 200
    assert body["classification"]["has_tumour"] is True
    assert body["segmentation"]["tumour_pixels"] > 0
    assert body["segmentation"]["mask"]["format"] == "rle"


def test_negative_slice_is_not_segmented(client):
    response = client.post(
        "/analyze", files={"file": ("n.png", samples.png_bytes(samples.negative_image()), "image/png")}
    )

    assert response.status_code == 200
    assert response.json()["classification"]["has_tumour"] is False
    assert response.json()["segmentation"] is None


def test_a_batch_is_one_pass_and_only_positives_are_segmented(client, monkeypatch):
    file_runner = client.app.state.models.classifier.runner
    assert client.app.state.models.segmenter.runner is file_runner  # one file answers both roles
    batches = []
    run = file_runner.run
    monkeypatch.setattr(file_runner, "run", lambda batch: batches.append(len(batch)) or run(batch))
    images = [
        samples.negative_image(),
        samples.positive_image(),
        samples.negative_image(),
        samples.positive_image(),
    ]

    response = client.post(
        "/analyze",
        params={"mask_format": "png"},
        files=[_file(f"{i}.png", im) for i, im in enumerate(images)],
    )

    results = response.json()["results"]
    assert [r["classification"]["has_tumour"] for r in results] == [False, True, False, True]
    assert [r["segmentation"] is None for r in results] == [True, False, True, False]
    assert results[1]["segmentation"]["mask"]["format"] == "png"
    assert batches == [4]
