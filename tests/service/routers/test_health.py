"""Open Inference Protocol health endpoints."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from service import main
from service.inference import load_models
from service.settings import Settings
from tests.service import samples
from tests.service.apps import wait_for_models


def test_live_and_ready_after_start(client):
    assert client.get("/v2/health/live").json() == {"live": True}
    response = client.get("/v2/health/ready")
    assert response.status_code == 200 and response.json() == {"ready": True}


def test_live_while_the_models_load_and_ready_503_until_they_are(models_dir, monkeypatch):
    release = threading.Event()

    def slow_load(*args, **kwargs):
        assert release.wait(30), "the test never released the load"
        return load_models(*args, **kwargs)

    monkeypatch.setattr(main, "load_models", slow_load)
    app = main.create_app(Settings(models_dir=models_dir))

    with TestClient(app) as client:  # the lifespan has run; the models are still loading
        assert client.get("/v2/health/live").status_code == 200
        ready = client.get("/v2/health/ready")
        assert ready.status_code == 503 and "not loaded" in ready.json()["detail"]
        image = samples.png_bytes(samples.positive_image())
        assert client.post("/classify", files={"file": ("a.png", image, "image/png")}).status_code == 503

        release.set()
        wait_for_models(app)
        assert client.get("/v2/health/ready").json() == {"ready": True}
        assert client.post("/classify", files={"file": ("a.png", image, "image/png")}).status_code == 200


def test_health_stays_open_with_an_api_key(make_client):
    client = make_client(api_key="secret")

    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
