"""API key and the file/files rules of the image endpoints."""

from __future__ import annotations

import pytest

from tests.service import samples

IMAGE = samples.png_bytes(samples.positive_image())


@pytest.mark.parametrize("path", ["/classify", "/segment", "/analyze"])
def test_api_key_required_when_set(make_client, path):
    client = make_client(api_key="s3cret")
    files = {"file": ("a.png", IMAGE, "image/png")}

    missing = client.post(path, files=files)
    wrong = client.post(path, files=files, headers={"X-API-Key": "guess"})
    right = client.post(path, files=files, headers={"X-API-Key": "s3cret"})

    assert missing.status_code == 401 and wrong.status_code == 401
    assert "X-API-Key" in missing.json()["detail"]
    assert right.status_code == 200


def test_api_key_protects_model_list_but_not_metrics(make_client):
    client = make_client(api_key="s3cret")

    assert client.get("/v2/models").status_code == 401
    assert client.get("/v2/models", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert client.get("/metrics").status_code == 200


def test_no_key_needed_by_default(client):
    assert client.post("/classify", files={"file": ("a.png", IMAGE, "image/png")}).status_code == 200


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"image": ("a.png", IMAGE, "image/png")}, id="wrong-field"),
        pytest.param(
            [("file", ("a.png", IMAGE, "image/png")), ("files", ("b.png", IMAGE, "image/png"))], id="both"
        ),
    ],
)
def test_exactly_one_of_file_and_files(client, files):
    response = client.post("/classify", files=files)

    assert response.status_code == 422
    assert "exactly one" in str(response.json()["detail"])


def test_no_body_at_all_is_422(client):
    assert client.post("/segment").status_code == 422


def test_too_many_files(make_client):
    client = make_client(max_files_per_request=2)
    files = [("files", (f"{i}.png", IMAGE, "image/png")) for i in range(3)]

    response = client.post("/classify", files=files)

    assert response.status_code == 422 and "at most 2" in str(response.json()["detail"])
