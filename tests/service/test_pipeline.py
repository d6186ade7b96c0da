"""Every slice answer says what it was computed from: ``sequences`` (contract.SEQUENCES_*)."""

from __future__ import annotations

import numpy as np
import pytest

from contract.spec import SEQUENCES_ALL, SEQUENCES_FLAIR_ONLY
from tests.service import samples

RGB = samples.positive_image()  # three different channels: pre-contrast, FLAIR, post-contrast
GREY = RGB[..., 1]

UPLOADS = {
    "rgb-png": (samples.png_bytes(RGB), "image/png", SEQUENCES_ALL),
    "rgba-png": (
        samples.png_bytes(np.dstack([RGB, np.full(GREY.shape, 255, np.uint8)])),
        "image/png",
        SEQUENCES_ALL,
    ),
    "grey-png": (samples.png_bytes(GREY), "image/png", SEQUENCES_FLAIR_ONLY),
    "grey-as-rgb-png": (samples.png_bytes(np.dstack([GREY] * 3)), "image/png", SEQUENCES_FLAIR_ONLY),
    "16-bit-grey-tiff": (
        samples.tiff_bytes(GREY.astype(np.uint16) * 257),
        "image/tiff",
        SEQUENCES_FLAIR_ONLY,
    ),
    "mr-dicom": (samples.dicom_bytes(GREY.astype(np.uint16) * 16), "application/dicom", SEQUENCES_FLAIR_ONLY),
    "rgb-dicom": (samples.dicom_bytes(RGB), "application/dicom", SEQUENCES_ALL),
}


def _sequences(path: str, body: dict) -> list[str]:
    """Every ``sequences`` of one slice's answer (/analyze also has them in its parts)."""
    if path != "/analyze":
        return [body["sequences"]]
    parts = [body["classification"], body["segmentation"]]
    return [body["sequences"], *(part["sequences"] for part in parts if part is not None)]


@pytest.mark.parametrize("upload", UPLOADS.values(), ids=UPLOADS.keys())
@pytest.mark.parametrize("path", ["/classify", "/segment", "/analyze"])
def test_one_slice_answer_names_its_sequences(client, path, upload):
    data, content_type, expected = upload

    response = client.post(path, files={"file": ("slice", data, content_type)})

    assert response.status_code == 200, response.text
    assert set(_sequences(path, response.json())) == {expected}


@pytest.mark.parametrize("path", ["/classify", "/segment", "/analyze"])
def test_batch_answers_name_the_sequences_of_each_slice(client, path):
    names = ["rgb-png", "grey-png", "mr-dicom", "rgb-dicom"]
    files = [("files", (name, UPLOADS[name][0], UPLOADS[name][1])) for name in names]

    response = client.post(path, files=files)

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [set(_sequences(path, r)) for r in results] == [{UPLOADS[name][2]} for name in names]


def test_the_schema_lists_both_values(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]

    for answer in ("Classification", "Segmentation", "Analysis"):
        assert schema[answer]["properties"]["sequences"]["enum"] == [SEQUENCES_ALL, SEQUENCES_FLAIR_ONLY]
        assert "sequences" in schema[answer]["required"]
