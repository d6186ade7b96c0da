"""POST /analyze: segmentation only for slices the classifier calls positive."""

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


def test_negative_slice_is_not_segmented(client, monkeypatch):
    segmenter = client.app.state.models.segmenter
    monkeypatch.setattr(
        segmenter, "predict", lambda batch: (_ for _ in ()).throw(AssertionError("segmented"))
    )

    response = client.post(
        "/analyze", files={"file": ("n.png", samples.png_bytes(samples.negative_image()), "image/png")}
    )

    assert response.status_code == 200
    assert response.json()["classification"]["has_tumour"] is False
    assert response.json()["segmentation"] is None


def test_batch_segments_only_positives_in_one_call(client, monkeypatch):
    segmenter = client.app.state.models.segmenter
    batches = []
    predict = segmenter.predict
    monkeypatch.setattr(segmenter, "predict", lambda batch: batches.append(len(batch)) or predict(batch))
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
    assert batches == [2]
