"""POST /preview: the decoded slice as a PNG, for the page (browsers cannot show TIFF or DICOM)."""

from __future__ import annotations

import cv2
import numpy as np
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from tests.service import samples


def _decode_png(data: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_tiff_slice_comes_back_as_the_same_pixels_in_png(client):
    response = client.post("/preview", files={"file": ("s.tif", samples.lgg_bytes(), "image/tiff")})

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert np.array_equal(_decode_png(response.content), samples.lgg_pixels())


def test_dicom_slice_comes_back_windowed_and_grey(client):
    flair = samples.lgg_pixels()[..., 1].astype(np.uint16) * 16  # 12-bit-like MR data
    dicom = samples.dicom_bytes(flair, spacing=(0.5, 0.5))

    response = client.post("/preview", files={"file": ("s.dcm", dicom, "application/dicom")})

    assert response.status_code == 200
    rgb = _decode_png(response.content)
    assert rgb.shape == (256, 256, 3)
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    assert rgb.max() == 255 and np.corrcoef(rgb[..., 1].ravel(), flair.ravel())[0, 1] > 0.99


def test_not_an_image_is_415(client):
    response = client.post("/preview", files={"file": ("notes.txt", b"hello, not an image", "text/plain")})

    assert response.status_code == 415
    assert "notes.txt" in response.json()["detail"]


def test_missing_file_is_422(client):
    assert client.post("/preview").status_code == 422


def test_needs_the_api_key_when_set(make_client):
    client = make_client(api_key="s3cret")
    files = {"file": ("s.tif", samples.lgg_bytes(), "image/tiff")}

    assert client.post("/preview", files=files).status_code == 401
    assert client.post("/preview", files=files, headers={"X-API-Key": "s3cret"}).status_code == 200


def test_answers_before_the_models_are_loaded(models_dir):
    app = create_app(Settings(models_dir=models_dir))
    client = TestClient(app)  # lifespan not run: no models

    response = client.post("/preview", files={"file": ("s.tif", samples.lgg_bytes(), "image/tiff")})

    assert app.state.models is None
    assert response.status_code == 200
