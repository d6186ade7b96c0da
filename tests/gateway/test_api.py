"""The gateway in-process: its HTTP API (FastAPI TestClient) and its DICOM node (pynetdicom C-ECHO,
a called AE title that is not the gateway's)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from gateway.api import create_app
from gateway.app import Gateway
from gateway.settings import GatewaySettings
from tests.gateway.conftest import GATEWAY_AE, push, study


@pytest.fixture
def gateway(tmp_path):
    settings = GatewaySettings(
        state_dir=tmp_path / "state", dicom_host="127.0.0.1", dicom_port=0, stable_s=3600,
        peers={"SCANNER": "127.0.0.1:4242"},
    )  # fmt: skip
    gateway = Gateway(settings)
    gateway.listener.start()  # no scheduler: jobs stay as received
    yield gateway
    gateway.stop()


def test_echo_and_called_ae_title(gateway):
    port = gateway.listener.port_bound()[1]
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=GATEWAY_AE)
    assert assoc.is_established and assoc.send_c_echo().Status == 0
    assoc.release()
    assert not ae.associate("127.0.0.1", port, ae_title="SOMEONE-ELSE").is_established


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
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["jobs"]["receiving"] == 1
    assert "mri_gateway_instances_received_total 12.0" in client.get("/metrics").text
    assert (
        len(gateway.spool.series_files(str(flair[0].StudyInstanceUID), str(flair[0].SeriesInstanceUID))) == 12
    )


@pytest.mark.parametrize(
    "body",
    [
        {"dicomweb_url": "pacs:8042", "study_instance_uid": "1.2"},
        {"dicomweb_url": "http://pacs", "study_instance_uid": "1.2; rm"},
        {"dicomweb_url": "http://pacs", "study_instance_uid": "1.2", "destination": "smtp://x"},
    ],
)
def test_pull_request_validation(gateway, body):
    assert TestClient(create_app(gateway)).post("/jobs", json=body).status_code == 422


def test_pull_from_an_unreachable_server_is_502(gateway):
    from tests.servers import bound_socket

    sock = bound_socket()
    body = {
        "dicomweb_url": f"http://127.0.0.1:{sock.getsockname()[1]}/dicom-web",
        "study_instance_uid": "1.2",
    }
    assert TestClient(create_app(gateway)).post("/jobs", json=body).status_code == 502
    sock.close()
