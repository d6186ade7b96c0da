"""The gateway in docker-compose.yml and the Dockerfile (no engine here: read and checked, as
tests/deploy does for the service): profiles, image target, every setting reachable, ports, state
volume, health check, and the Orthanc trial wired to the gateway both ways."""

from __future__ import annotations

import json

import pytest
import yaml
from pydantic import ValidationError

from gateway.settings import ENV_PREFIX, GatewaySettings
from tests.deploy.conftest import interpolate_tree, parse_dockerfile
from tests.gateway.conftest import REPO


def _compose() -> dict:
    return interpolate_tree(yaml.safe_load((REPO / "docker-compose.yml").read_text()))


def test_gateway_service_reaches_every_setting_and_keeps_its_state():
    service = _compose()["services"]["mri-gateway"]
    assert service["profiles"] == ["gateway"] and service["build"]["target"] == "gateway"
    env = dict(item.partition("=")[::2] for item in service["environment"])
    assert {f"{ENV_PREFIX}{name.upper()}" for name in GatewaySettings.model_fields} <= set(env)
    assert env["MRI_GATEWAY_API_TOKEN"] == "", "passed through from the shell or .env, never written here"
    with pytest.raises(ValidationError, match="needs MRI_GATEWAY_API_TOKEN"):  # open to the network: a token
        GatewaySettings(**{k[len(ENV_PREFIX) :].lower(): v for k, v in env.items() if v})
    env["MRI_GATEWAY_API_TOKEN"] = "set-in-env"
    settings = GatewaySettings(**{k[len(ENV_PREFIX) :].lower(): v for k, v in env.items() if v})
    assert service["ports"] == [f"11112:{settings.dicom_port}", f"8090:{settings.http_port}"]
    [volume] = service["volumes"]
    assert volume["type"] == "volume" and volume["target"] == str(settings.state_dir)
    assert settings.service_url == "http://mri-api:8000"
    dockerfile = parse_dockerfile((REPO / "Dockerfile").read_text())
    assert dockerfile.effective("gateway", "CMD").exec_form == ["python", "-m", "gateway"]
    assert service["healthcheck"]["test"] == [
        "CMD",
        *dockerfile.effective("gateway", "HEALTHCHECK").exec_form,
    ]
    assert f"127.0.0.1:{settings.http_port}/health" in service["healthcheck"]["test"][-1]
    assert dockerfile.env("gateway")["MRI_GATEWAY_STATE_DIR"] == str(settings.state_dir)
    pins = (REPO / "docker" / "requirements-common.txt").read_text().splitlines()
    assert not [line for line in pins if line.lower().startswith("tensorflow")], (
        "the gateway image runs no model"
    )


def test_orthanc_trial_routes_to_the_gateway_and_the_gateway_answers_back():
    compose = _compose()
    gateway_env = dict(i.partition("=")[::2] for i in compose["services"]["mri-gateway"]["environment"])
    orthanc = compose["services"]["orthanc"]
    assert orthanc["profiles"] == ["orthanc"]
    mounts = {v["target"]: v["source"] for v in orthanc["volumes"] if v["type"] == "bind"}
    for source in mounts.values():
        assert (REPO / source).is_file(), source
    config = json.loads((REPO / mounts["/etc/orthanc/orthanc.json"]).read_text())
    assert (
        config["LuaScripts"] == ["/etc/orthanc/route_to_gateway.lua"]
        and "/etc/orthanc/route_to_gateway.lua" in mounts
    )
    settings = GatewaySettings(
        peers=gateway_env["MRI_GATEWAY_PEERS"], dicomweb_servers=gateway_env["MRI_GATEWAY_DICOMWEB_SERVERS"]
    )
    assert config["DicomModalities"]["gateway"] == [settings.ae_title, "mri-gateway", settings.dicom_port]
    assert settings.peers == {
        config["DicomAet"]: f"orthanc:{config['DicomPort']}"
    }  # allowed to call, and back
    assert settings.dicomweb_servers[
        "ORTHANC"
    ].url == f"http://orthanc:{config['HttpPort']}{config['DicomWeb']['Root']}".rstrip("/")
    assert any(p.endswith(f":{config['DicomPort']}") for p in orthanc["ports"])
