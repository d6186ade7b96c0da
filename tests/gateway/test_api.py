"""The gateway's HTTP API in-process (FastAPI TestClient) and as a process: the token off loopback,
pulls only from configured servers and results only to configured destinations, health with the
service's readiness and the disk, bulk re-drive by API and CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway import states
from gateway.api import create_app
from gateway.jobs import DIMSE
from tests.gateway.conftest import REPO, SOURCES, push, study
from tests.servers import bound_socket

TOKEN = "api-test-token"


@pytest.fixture
def gateway(local_gateway):
    return local_gateway(peers={"SCANNER": "127.0.0.1:4242"}, calling_aes="", stable_s=3600)


def test_received_series_is_a_job_going_back_to_the_sender(gateway):
    flair = study("api", ("flair",))["flair"]
    push(flair, gateway.listener.port_bound()[1])
    client = TestClient(create_app(gateway))
    [job] = client.get("/jobs").json()
    assert job["state"] == "receiving" and job["instances"] == len(flair) and job["origin"] == "SCANNER"
    assert job["destination"] == "dicom://SCANNER@127.0.0.1:4242"
    assert client.get(f"/jobs/{job['id']}").json() == job
    assert client.get("/jobs", params={"state": "sent"}).json() == []
    assert client.get("/jobs/999").status_code == 404
    assert client.post(f"/jobs/{job['id']}/retry").status_code == 409
    assert client.get("/jobs", params={"state": "bogus"}).status_code == 422
    assert "mri_gateway_instances_received_total 12.0" in client.get("/metrics").text
    assert (
        len(gateway.spool.series_files(str(flair[0].StudyInstanceUID), str(flair[0].SeriesInstanceUID))) == 12
    )
    [record] = client.get("/audit").json()
    assert record["event"] == "association" and record["instances"] == 12


def test_health_reports_the_service_and_the_disk(local_gateway, tiny_service_url):
    sock = bound_socket()
    down = TestClient(create_app(local_gateway(service_url=f"http://127.0.0.1:{sock.getsockname()[1]}")))
    body = down.get("/health").json()
    assert down.get("/health").status_code == 200 and body["status"] == "degraded"
    assert body["service"]["ready"] is False and body["problems"] == ["service not ready"]
    full = TestClient(create_app(local_gateway(service_url=tiny_service_url, min_free_disk_mb=10**9)))
    body = full.get("/health").json()
    assert body["service"]["ready"] is True and body["disk"]["ok"] is False
    assert body["problems"] == ["disk below the watermark"] and body["disk"]["free_bytes"] > 0
    ok = TestClient(create_app(local_gateway(service_url=tiny_service_url)))
    assert ok.get("/health").json()["status"] == "ok"
    sock.close()


def test_the_token_guards_everything_but_health(local_gateway):
    client = TestClient(create_app(local_gateway(http_host="0.0.0.0", api_token=TOKEN)))
    for path in ("/jobs", "/metrics", "/audit"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.post("/jobs/retry", json={}).status_code == 401
    assert client.get("/health").status_code == 200


@pytest.mark.slow
def test_a_gateway_open_to_the_network_refuses_the_api_without_its_token(gateway_factory):
    gateway = gateway_factory(MRI_GATEWAY_HTTP_HOST="0.0.0.0", MRI_GATEWAY_API_TOKEN=TOKEN).start()
    assert httpx.get(f"{gateway.url}/jobs").status_code == 401
    assert httpx.post(f"{gateway.url}/jobs/retry", json={}).status_code == 401
    assert httpx.get(f"{gateway.url}/jobs", headers={"Authorization": f"Bearer {TOKEN}"}).json() == []
    env = {k: v for k, v in os.environ.items() if not k.startswith("MRI_GATEWAY_")} | {
        "MRI_GATEWAY_HTTP_HOST": "0.0.0.0"
    }
    run = subprocess.run([sys.executable, "-m", "gateway"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=60, check=False)  # fmt: skip
    assert run.returncode == 2 and "needs MRI_GATEWAY_API_TOKEN" in run.stderr, run.stderr


@pytest.mark.parametrize(
    ("body", "status", "word"),
    [
        ({"dicomweb_url": "http://evil.example/dicom-web", "study_instance_uid": "1.2"}, 403, "not a configured"),
        ({"server": "OTHER", "study_instance_uid": "1.2"}, 403, "not a configured"),
        ({"server": "PACS", "study_instance_uid": "1.2", "destination": "dicom://X@evil.example:104"}, 403,
         "not a configured destination"),
        ({"server": "PACS", "study_instance_uid": "1.2; rm"}, 422, ""),
        ({"study_instance_uid": "1.2"}, 422, ""),
        ({"server": "PACS", "dicomweb_url": "http://pacs", "study_instance_uid": "1.2"}, 422, ""),
    ],
    ids=["unconfigured-url", "unconfigured-name", "unconfigured-destination", "bad-uid", "no-server", "two-servers"],
)  # fmt: skip
def test_pulls_only_from_configured_servers_and_results_only_to_configured_destinations(
    local_gateway, body, status, word
):
    gateway = local_gateway(dicomweb_servers={"PACS": "http://127.0.0.1:9/dicom-web"})
    answer = TestClient(create_app(gateway)).post("/jobs", json=body)
    assert answer.status_code == status and word in answer.text, answer.text
    assert gateway.store.list() == []


def test_a_pull_names_a_configured_destination_and_an_unreachable_server_is_502(local_gateway):
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/dicom-web"
    gateway = local_gateway(dicomweb_servers={"PACS": url}, peers={"ARCHIVE": "127.0.0.1:104"})
    client = TestClient(create_app(gateway))
    assert client.post("/jobs", json={"server": "PACS", "study_instance_uid": "1.2"}).status_code == 502
    one = {
        "server": "PACS",
        "study_instance_uid": "1.2",
        "series_instance_uid": "1.2.3",
        "destination": "ARCHIVE",
    }
    [job] = client.post("/jobs", json=one).json()
    assert job["destination"] == "dicom://ARCHIVE@127.0.0.1:104" and job["origin"] == url
    [again] = client.post("/jobs", json=one | {"destination": None}).json()
    assert again["id"] == job["id"], "an unfinished pull of the same series is not made twice"
    sock.close()


def _failed_jobs(gateway, reasons: list[str]) -> list[int]:
    ids = [gateway.store.create("7", f"7.{i}", DIMSE, "SCANNER", None)[0] for i in range(len(reasons))]
    for job_id, reason in zip(ids, reasons, strict=True):
        gateway.store.claim()
        gateway.store.finish(job_id, states.FAILED, reason)
    return ids


def test_bulk_redrive_by_api_and_cli(local_gateway):
    gateway = local_gateway()
    down, refused, other = _failed_jobs(
        gateway, ["gave up: PACS down", "gave up: PACS down", "the service refused"]
    )
    client = TestClient(create_app(gateway))
    assert client.post("/jobs/retry", json={"reason_contains": "pacs DOWN"}).json() == {
        "queued": [down, refused]
    }
    assert gateway.store.get(other).state == states.FAILED
    env = {k: v for k, v in os.environ.items() if not k.startswith("MRI_GATEWAY_")}
    env |= {"MRI_GATEWAY_STATE_DIR": str(gateway.settings.state_dir), "PYTHONPATH": SOURCES}
    run = subprocess.run(
        [sys.executable, "-m", "gateway", "retry", "--reason", "refused", "--since-hours", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0 and f"queued again: 1 job(s) [{other}]" in run.stdout, run.stderr
    assert gateway.store.get(other).state == states.QUEUED
