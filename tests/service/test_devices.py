"""The devices the runtime sees: logged at start-up, reported by /v2/models; MRI_REQUIRE_GPU."""

from __future__ import annotations

import logging
import time

import pytest
from fastapi.testclient import TestClient

from service.devices import Device, NoGPUError, check_devices, inference_device
from service.main import create_app
from service.runtimes import get_runtime
from service.settings import Settings


def test_inference_device_is_the_first_gpu_else_the_cpu():
    cpu, gpu = Device("/physical_device:CPU:0", "CPU"), Device("/physical_device:GPU:0", "GPU")
    assert inference_device([cpu]) == cpu.name
    assert inference_device([cpu, gpu]) == gpu.name


def test_devices_are_logged_and_reported_by_v2_models(client, caplog):
    caplog.set_level(logging.INFO, logger="service.devices")
    body = client.get("/v2/models").json()
    runtime = get_runtime(body["runtime"])  # the runtime that serves (auto's choice, or the one named)
    devices = check_devices(runtime.name, runtime.devices())
    assert any(d.type == "CPU" for d in devices)
    assert f"{runtime.name} sees" in caplog.text and "inference on" in caplog.text
    assert {d["name"] for d in body["devices"]} == {d.name for d in devices}
    assert body["inference_device"] == inference_device(devices)


@pytest.mark.parametrize("runtime_name", ["keras", "auto"])
def test_require_gpu_fails_the_load_on_a_machine_without_one(models_dir, runtime_name):
    runtime = get_runtime("keras")
    if any(d.type == "GPU" for d in runtime.devices()):
        pytest.skip("this machine has a GPU")
    with pytest.raises(NoGPUError):
        check_devices(runtime.name, runtime.devices(), require_gpu=True)
    app = create_app(Settings(models_dir=models_dir, runtime=runtime_name, require_gpu=True))
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while app.state.load_error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        # a named runtime fails with its own error; auto names each candidate's reason (no GPU)
        assert ("NoGPUError" if runtime_name == "keras" else "GPU") in app.state.load_error
        assert client.get("/v2/health/live").status_code == 503
