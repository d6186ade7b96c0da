"""docker-compose.yml: valid against the vendored Compose specification schema, and consistent
with the Dockerfile (profiles, GPU reservation, health check, models volume, port)."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import jsonschema
import pytest

from service.settings import Settings

# compose/config/compose_spec.json from the docker-compose 1.29.2 wheel (see COMPOSE_SPEC.md).
SCHEMA_SHA256 = "0dc04bd346dcfee1b1419628fff79937bbf076925f298f272a2b490e2b112bac"
SERVICES = {"cpu": "mri-api", "gpu": "mri-api-gpu"}


def validate(document: dict, schema: dict) -> None:
    jsonschema.Draft201909Validator(schema).validate(document)


def test_vendored_schema_is_the_documented_file_and_supports_what_we_use(compose_schema):
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256((here / "compose_spec.json").read_bytes()).hexdigest()
    assert digest == SCHEMA_SHA256
    assert (here / "compose_spec.LICENSE").read_text().lstrip().startswith("Apache License")
    jsonschema.Draft201909Validator.check_schema(compose_schema)
    definitions = compose_schema["definitions"]
    assert "profiles" in definitions["service"]["properties"]
    reservations = definitions["deployment"]["properties"]["resources"]["properties"]["reservations"]
    device = definitions["devices"]["items"]["properties"]
    assert "devices" in reservations["properties"]
    assert {"driver", "count", "capabilities"} <= set(device)


def test_compose_file_is_valid(compose, compose_schema):
    validate(compose, compose_schema)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c["services"]["mri-api"].__setitem__("restart_policy", "always"),
        lambda c: c["services"]["mri-api-gpu"]["deploy"]["resources"]["reservations"]["devices"][
            0
        ].__setitem__("gpus", 1),
        lambda c: c["services"]["mri-api"].__setitem__("profiles", "cpu"),
    ],
    ids=["unknown-service-key", "unknown-device-key", "profiles-not-a-list"],
)
def test_schema_rejects_broken_files(compose, compose_schema, mutate):
    """The validator is live: typical mistakes are caught."""
    broken = copy.deepcopy(compose)
    mutate(broken)
    with pytest.raises(jsonschema.ValidationError):
        validate(broken, compose_schema)


def test_profiles_and_gpu_reservation(compose):
    services = compose["services"]
    assert set(SERVICES.values()) <= set(services)
    for profile, name in SERVICES.items():
        assert services[name]["profiles"] == [profile]
    devices = services["mri-api-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "deploy" not in services["mri-api"], "the CPU service reserves no GPU"


@pytest.mark.parametrize("profile", sorted(SERVICES))
def test_service_matches_dockerfile(compose, dockerfile, profile):
    service = compose["services"][SERVICES[profile]]
    assert service["build"]["target"] == profile
    assert dockerfile.stage(profile)
    assert service["restart"] in {"always", "unless-stopped", "on-failure"}
    assert any(str(p).endswith(":8000") for p in service["ports"])

    health = service["healthcheck"]
    image_health = dockerfile.effective(profile, "HEALTHCHECK").exec_form
    assert health["test"] == ["CMD", *image_health]
    assert {"interval", "timeout", "retries", "start_period"} <= set(health)

    env = dict(item.partition("=")[::2] for item in service["environment"])
    assert "MRI_API_KEY" in env, "the API key is configurable"
    settings = {f"MRI_{name.upper()}" for name in Settings.model_fields}
    assert settings <= set(env), f"settings the compose file cannot set: {sorted(settings - set(env))}"
    models = [v for v in service["volumes"] if isinstance(v, dict) and v["target"] == env["MRI_MODELS_DIR"]]
    assert models and models[0]["read_only"] is True, "models volume mounted where MRI_MODELS_DIR points"
    assert models[0]["source"] == "./models"


def test_models_folder_and_port_are_overridable(compose_raw, interpolate_compose):
    custom = interpolate_compose(compose_raw, {"MRI_MODELS_HOST_DIR": "/srv/models", "MRI_PORT": "9000"})
    service = custom["services"]["mri-api"]
    assert service["volumes"][0]["source"] == "/srv/models"
    assert service["ports"] == ["9000:8000"]
