"""Open Inference Protocol health endpoints."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings


def test_live_and_ready_after_start(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    response = client.get("/v2/health/ready")
    assert response.status_code == 200 and response.json() == {"ready": True}


def test_ready_is_503_until_the_models_are_loaded(tmp_path):
    app = create_app(Settings(models_dir=tmp_path))
    client = TestClient(app)  # not entered: the lifespan has not run, nothing is loaded

    assert client.get("/v2/health/live").status_code == 200
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 503 and "not loaded" in ready.json()["detail"]
    assert client.post("/classify", files={"file": ("a.png", b"x", "image/png")}).status_code == 503


def test_health_stays_open_with_an_api_key(make_client):
    client = make_client(api_key="secret")

    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
