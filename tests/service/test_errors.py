"""Bad input is answered with JSON {"detail": ...} and the right code, and the service stays up."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG2MPML

from tests.service import samples


def _post(client, data: bytes, content_type: str = "application/octet-stream", path: str = "/classify"):
    return client.post(path, files={"file": ("upload", data, content_type)})


@pytest.mark.parametrize(
    "data, content_type",
    [
        pytest.param(b"just some text, not an image" * 10, "text/plain", id="text"),
        pytest.param(b"", "image/png", id="empty"),
        pytest.param(b'{"a": 1}', "image/png", id="json-claiming-png"),
        pytest.param(b"GIF89a" + b"\0" * 100, "image/gif", id="gif"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "image/png", id="png-signature-only"),
        pytest.param(b"garbage" * 50, "application/dicom", id="garbage-claiming-dicom"),
        pytest.param(
            samples.jpeg_bytes(samples.positive_image())[:300], "image/jpeg", id="jpeg-cut-in-header"
        ),
        pytest.param(b"II*\x00" + b"\xff" * 100, "image/tiff", id="tiff-broken-header"),
    ],
)
@pytest.mark.parametrize("path", ["/classify", "/segment", "/analyze"])
def test_not_an_image_is_415(client, data, content_type, path):
    response = _post(client, data, content_type, path)

    assert response.status_code == 415, response.text
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    "data, fragment",
    [
        pytest.param(samples.png_bytes(np.zeros((20, 64, 3), np.uint8)), "at least 32", id="png-too-small"),
        pytest.param(samples.tiff_bytes(np.zeros((31, 31), np.uint8)), "at least 32", id="tiff-too-small"),
        pytest.param(samples.png_bytes(np.zeros((40, 5000), np.uint8)), "4096", id="png-too-wide"),
        pytest.param(samples.png_header_only(100_000, 100_000), "limit", id="png-declares-100000x100000"),
        pytest.param(samples.png_header_only(4000, 4000), "could not be decoded", id="png-truncated"),
        pytest.param(samples.dicom_bytes(None, shape=(64, 64)), "no pixel data", id="dicom-without-pixels"),
        pytest.param(
            samples.dicom_bytes(np.zeros((64, 64), np.uint16))[:-2000], "DICOM", id="dicom-truncated"
        ),
        pytest.param(
            samples.dicom_bytes(None, shape=(50_000, 50_000)), "no pixel data", id="dicom-huge-no-pixels"
        ),
        pytest.param(samples.tiff_bytes(np.zeros((5, 40, 40), np.uint8)), "5 pages", id="tiff-multipage"),
        pytest.param(
            samples.dicom_bytes(samples.lgg_pixels()[..., 1].astype(np.uint16), modality="CT"),
            "Modality is CT, not MR",
            id="dicom-ct",
        ),
    ],
)
def test_unusable_image_is_422(client, data, fragment):
    response = _post(client, data)

    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]


@pytest.mark.parametrize("path", ["/classify", "/segment", "/analyze"])
def test_a_dicom_transfer_syntax_that_cannot_be_decoded_is_415_naming_it(client, path):
    ds = pydicom.dcmread(io.BytesIO(samples.dicom_bytes(samples.lgg_pixels()[..., 1])))
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(64)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)

    response = _post(client, buffer.getvalue(), "application/dicom", path)

    assert response.status_code == 415, response.text
    assert response.json()["detail"] == (
        "file (upload): the DICOM transfer syntax MPEG2 Main Profile / Main Level "
        "(1.2.840.10008.1.2.4.100) cannot be decoded by this service"
    )


def test_huge_declared_dimensions_are_refused_from_the_header(client, monkeypatch):
    import cv2

    def no_decoding(*args, **kwargs):
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    for data in (samples.png_header_only(100_000, 100_000), samples.png_header_only(5000, 40)):
        response = _post(client, data, "image/png")
        assert response.status_code == 422 and "limit" in response.json()["detail"]


def test_huge_dicom_header_is_refused_before_its_pixels(client):
    data = samples.dicom_bytes(np.zeros((64, 64), np.uint16))
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.Rows = 60000  # pixel data of 64 rows, header says 60000: refused before decoding
    buffer = io.BytesIO()
    ds.save_as(buffer)

    response = _post(client, buffer.getvalue(), "application/dicom")

    assert response.status_code == 422 and "60000" in response.json()["detail"]


def test_limits_follow_the_settings(make_client):
    client = make_client(min_image_side=64, max_image_side=100, max_image_pixels=90 * 90)

    assert _post(client, samples.png_bytes(samples.positive_image(48))).status_code == 422
    assert _post(client, samples.png_bytes(samples.positive_image(64))).status_code == 200
    assert _post(client, samples.png_bytes(samples.positive_image(95))).status_code == 422  # 95 * 95 > 8100


def test_the_pixels_of_one_request_together_are_capped_before_decoding(make_client):
    client = make_client(max_request_pixels=3 * 64 * 64)
    slice_64 = ("a.png", samples.png_bytes(samples.positive_image(64)), "image/png")
    huge = ("huge.png", samples.png_header_only(4000, 4000), "image/png")  # refused from its header

    assert client.post("/classify", files=[("files", slice_64)] * 3).status_code == 200
    over = client.post("/classify", files=[("files", slice_64)] * 4)
    assert over.status_code == 413 and over.json()["detail"].startswith("files[3] (a.png): ")
    first = client.post("/segment", files=[("files", huge), ("files", slice_64)])
    assert first.status_code == 413 and "files[0] (huge.png)" in first.json()["detail"]


def test_service_stays_up_after_bad_input(client):
    for data in (b"", b"nonsense", samples.png_header_only(100_000, 100_000)):
        _post(client, data)

    assert client.get("/v2/health/ready").status_code == 200
    assert _post(client, samples.png_bytes(samples.positive_image())).status_code == 200
