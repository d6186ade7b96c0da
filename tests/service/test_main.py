"""The app factory, the lifespan and the catch-all error handler."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from contract import CARD_FILE
from contract.spec import JOINT_FILE
from service import main
from service.main import create_app
from service.settings import DEFAULT_MODELS_DIR, Settings
from tests.service import samples
from tests.service.apps import started


def test_module_app_uses_the_repository_models_folder(monkeypatch):
    repository_models = Path(__file__).resolve().parents[2] / "models"
    assert repository_models == DEFAULT_MODELS_DIR and (repository_models / CARD_FILE).is_file()
    assert main.app.state.settings.models_dir == DEFAULT_MODELS_DIR
    monkeypatch.setenv("MRI_MODELS_DIR", "/elsewhere")  # the setting, when given, wins over the default
    assert Settings().models_dir == Path("/elsewhere")


def test_lifespan_loads_warm_models_and_drops_them_at_shutdown(models_dir):
    app = create_app(Settings(models_dir=models_dir))
    assert app.state.models is None

    with started(app):
        models = app.state.models
        assert models.classifier.input_size == 32 and models.segmenter.input_size == 32

    assert app.state.models is None


def test_a_models_folder_that_cannot_load_turns_live_and_ready_503(tmp_path, caplog):
    app = create_app(Settings(models_dir=tmp_path))

    with TestClient(app) as client:
        deadline = time.monotonic() + 30
        while app.state.load_error is None and time.monotonic() < deadline:
            time.sleep(0.02)

        assert "FileNotFoundError" in app.state.load_error and JOINT_FILE in app.state.load_error
        for path in ("/v2/health/live", "/v2/health/ready"):
            response = client.get(path)
            assert response.status_code == 503 and "could not be loaded" in response.json()["detail"]
        image = samples.png_bytes(samples.positive_image())
        assert client.post("/classify", files={"file": ("a.png", image, "image/png")}).status_code == 503
    assert "could not load the models" in caplog.text


def test_unexpected_error_is_a_json_500_without_traceback(make_client, monkeypatch, caplog):
    client = make_client()
    runner = client.app.state.models.classifier

    def boom(batch):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(runner, "predict", boom)
    response = client.post(
        "/classify", files={"file": ("a.png", samples.png_bytes(samples.positive_image()), "image/png")}
    )

    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert "secret internals" in caplog.text  # logged on the server side
    monkeypatch.undo()
    assert client.get("/v2/health/ready").status_code == 200  # still serving


def test_openapi_lists_the_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]

    assert {
        "/classify",
        "/segment",
        "/analyze",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models",
        "/metrics",
    } <= set(paths)


def test_exit_on_load_failure_makes_uvicorn_exit_non_zero(tmp_path):
    """MRI_EXIT_ON_LOAD_FAILURE (the image's default): a models folder that cannot load ends the process."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "MRI_MODELS_DIR": str(tmp_path), "MRI_EXIT_ON_LOAD_FAILURE": "true"}
    command = [sys.executable, "-m", "uvicorn", "service.main:app", "--host", "127.0.0.1", "--port", "0"]
    done = subprocess.run(
        command,
        check=False,
        env=env,
        cwd=DEFAULT_MODELS_DIR.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == main.LOAD_FAILURE_EXIT_CODE, done.stderr[-2000:]
    assert "could not load the models" in done.stderr and "MRI_EXIT_ON_LOAD_FAILURE" in done.stderr
