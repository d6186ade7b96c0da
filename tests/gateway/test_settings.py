"""Settings: ``python -m gateway --help`` lists every MRI_GATEWAY_* setting with its default; bad
values stop the start with a clear message; destinations parse as documented."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gateway.destinations import DicomNode, DicomwebServer, parse_destination
from gateway.settings import GatewaySettings, settings_table
from tests.gateway.conftest import REPO

REQUIRED = (
    "AE_TITLE",
    "DICOM_PORT",
    "HTTP_PORT",
    "SERVICE_URL",
    "SERVICE_API_KEY",
    "DESTINATION",
    "STABLE_S",
    "STATE_DIR",
)


def _run(*args, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MRI_GATEWAY_")} | env
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        check=False,
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_every_setting_with_its_default():
    run = _run("--help")
    assert run.returncode == 0, run.stderr
    for name, default, _ in settings_table():
        assert f"{name} [{default}]" in run.stdout
    assert len(settings_table()) == len(GatewaySettings.model_fields)
    for name in REQUIRED:
        assert f"MRI_GATEWAY_{name} [" in run.stdout
    assert "MRI_GATEWAY_AE_TITLE [MRI-AI]" in run.stdout and "MRI_GATEWAY_DICOM_PORT [11112]" in run.stdout
    assert "MRI_GATEWAY_STABLE_S [10.0]" in run.stdout


def test_the_settings_reference_is_generated_from_the_code():
    from scripts import settings_doc

    written = (REPO / "docs" / "gateway-settings.md").read_text()
    assert written == settings_doc.render_gateway(), (
        "run: python -m scripts.settings_doc (gateway/settings.py changed)"
    )
    rows = [line.split("`")[1] for line in written.splitlines() if line.startswith("| `MRI_GATEWAY_")]
    assert rows == [name for name, _, _ in settings_table()]
    assert "docs/gateway-settings.md" in (REPO / "docs" / "integration.md").read_text()


@pytest.mark.parametrize(
    "env",
    [
        {"MRI_GATEWAY_DESTINATION": "ftp://pacs"},
        {"MRI_GATEWAY_PEERS": '{"PACS": "nohostport"}'},
        {"MRI_GATEWAY_DICOM_PORT": "70000"},
        {"MRI_GATEWAY_HTTP_HOST": "0.0.0.0"},
        {"MRI_GATEWAY_TLS_CERT": "/no/such/cert.pem", "MRI_GATEWAY_TLS_KEY": "/no/such/key.pem"},
        {"MRI_GATEWAY_DICOMWEB_SERVERS": '{"PACS": {"url": "pacs:8042"}}'},
    ],
)
def test_bad_settings_stop_the_start(env):
    run = _run(**env)
    assert run.returncode == 2 and "invalid MRI_GATEWAY_* settings" in run.stderr, run.stderr


def test_destinations():
    assert parse_destination("dicom://PACS_AE@pacs.local:104") == DicomNode("PACS_AE", "pacs.local", 104)
    assert parse_destination("dicomweb://http://pacs:8042/dicom-web/") == DicomwebServer(
        "http://pacs:8042/dicom-web"
    )
    assert str(parse_destination("dicom://A@h:1")) == "dicom://A@h:1"
    assert parse_destination("dicoms://PACS@pacs.local:2762") == DicomNode(
        "PACS", "pacs.local", 2762, tls=True
    )
    assert str(parse_destination("dicoms://A@h:1")) == "dicoms://A@h:1"
    for bad in ("dicom://TOO_LONG_AE_TITLE_X@h:1", "dicom://A@h", "dicomweb://pacs", "http://pacs"):
        with pytest.raises(ValueError):
            parse_destination(bad)
