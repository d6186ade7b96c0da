"""POST /segment: masks (RLE and PNG), their size, summaries, pixel spacing and batches."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest
from pycocotools import mask as coco_mask

from contract.spec import JOINT_FILE, file_version
from tests.service import samples


def _segment(client, data: bytes, mask_format: str | None = None, name: str = "slice.png"):
    params = {} if mask_format is None else {"mask_format": mask_format}
    return client.post("/segment", params=params, files={"file": (name, data, "application/octet-stream")})


def _decode_rle(rle: dict) -> np.ndarray:
    h, w = rle["size"]
    return coco_mask.decode(coco_mask.frPyObjects(rle, h, w)).astype(bool)


def _decode_png(png: dict) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(base64.b64decode(png["data"]), np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint8 and image.ndim == 2 and set(np.unique(image)) <= {0, 255}
    return image == 255


def test_mask_at_model_size_is_exact(client, models_dir):
    truth = samples.square_mask(32, 5, 9, 12)
    truth[0, 0] = True  # a tumour pixel first: RLE counts must start with a 0 background run

    body = _segment(client, samples.png_bytes(samples.flair_image(truth))).json()

    assert body["mask"]["format"] == "rle" and body["mask"]["size"] == [32, 32]
    assert body["mask"]["counts"][0] == 0
    assert np.array_equal(_decode_rle(body["mask"]), truth)
    assert body["tumour_pixels"] == int(truth.sum())
    assert body["tumour_fraction"] == pytest.approx(truth.sum() / truth.size)
    assert body["bbox"] == [0, 0, 9 + 12 - 1, 5 + 12 - 1]
    assert body["threshold"] == 0.5
    assert body["model"] == {"name": "tiny-segmenter", "version": file_version(models_dir / JOINT_FILE)}
    assert body["tumour_area_mm2"] is None and body["pixel_spacing_mm"] is None


def test_rle_decoded_with_pycocotools_equals_the_png_mask(client):
    truth = np.zeros((96, 160), bool)
    truth[20:70, 30:90] = True
    truth[75:90, 120:150] = True
    data = samples.png_bytes(samples.flair_image(truth))

    rle = _segment(client, data, "rle").json()
    png = _segment(client, data, "png").json()

    assert png["mask"]["format"] == "png" and png["mask"]["size"] == [96, 160]
    rle_mask, png_mask = _decode_rle(rle["mask"]), _decode_png(png["mask"])
    assert rle_mask.shape == (96, 160)
    assert np.array_equal(rle_mask, png_mask)
    assert rle["tumour_pixels"] == png["tumour_pixels"] == int(rle_mask.sum())
    iou = (rle_mask & truth).sum() / (rle_mask | truth).sum()
    assert iou > 0.85  # resized to 32x32 and back


def test_mask_has_the_size_of_a_non_square_upload(client):
    truth = np.zeros((300, 200), bool)
    truth[100:200, 50:150] = True

    body = _segment(client, samples.png_bytes(samples.flair_image(truth)), "png").json()

    assert body["mask"]["size"] == [300, 200]
    assert _decode_png(body["mask"]).shape == (300, 200)
    x0, y0, x1, y1 = body["bbox"]
    assert abs(x0 - 50) <= 8 and abs(y0 - 100) <= 12 and abs(x1 - 149) <= 8 and abs(y1 - 199) <= 12


def test_empty_mask(client):
    body = _segment(client, samples.png_bytes(samples.flair_image(np.zeros((40, 40), bool)))).json()

    assert body["tumour_pixels"] == 0 and body["tumour_fraction"] == 0.0 and body["bbox"] is None
    assert body["mask"]["counts"] == [40 * 40]


def test_dicom_pixel_spacing_gives_an_area(client):
    truth = samples.square_mask(64, 10, 10, 30)
    pixels = samples.flair_image(truth)[..., 1].astype(np.uint16) * 16

    with_spacing = _segment(client, samples.dicom_bytes(pixels, spacing=(0.5, 0.8))).json()
    without = _segment(client, samples.dicom_bytes(pixels)).json()

    assert with_spacing["pixel_spacing_mm"] == [0.5, 0.8]
    assert with_spacing["tumour_area_mm2"] == pytest.approx(with_spacing["tumour_pixels"] * 0.4)
    assert with_spacing["tumour_pixels"] == without["tumour_pixels"] > 0
    assert without["tumour_area_mm2"] is None and without["pixel_spacing_mm"] is None


def test_batch_in_order(client):
    masks = [samples.square_mask(32, 0, 0, s) for s in (4, 10, 0, 20)]
    files = [
        ("files", (f"{i}.png", samples.png_bytes(samples.flair_image(m)), "image/png"))
        for i, m in enumerate(masks)
    ]

    response = client.post("/segment", files=files)

    assert response.status_code == 200
    assert [r["tumour_pixels"] for r in response.json()["results"]] == [int(m.sum()) for m in masks]


def test_unknown_mask_format_is_422(client):
    response = _segment(client, samples.png_bytes(samples.positive_image()), "jpeg")

    assert response.status_code == 422
