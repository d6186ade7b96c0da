"""Faults, each with real parts: a destination that is down and then up, a service that is down and
then up, a gateway killed (SIGKILL) in the middle of a job and started again, and series that
cannot be analysed (CT, mixed geometry, a truncated instance) next to one that can.

pynetdicom pushes the fixture patient's FLAIR series straight to the gateway (a real process);
results go to a real Orthanc. Every test ends by counting what Orthanc holds: one SEG and one SR
per analysed series, nothing lost, nothing twice."""

from __future__ import annotations

import copy
import re
import socket

import pydicom
import pytest
from pydicom.uid import CTImageStorage

from tests.gateway.conftest import needs_orthanc, push, study, wait_for
from tests.gateway.orthanc import free_port, run_orthanc
from tests.servers import bound_socket, serve_app, service_app

pytestmark = [pytest.mark.slow, needs_orthanc]


def counts(orthanc) -> tuple[int, int]:
    return len(orthanc.series_of("SEG")), len(orthanc.series_of("SR"))


def delivered(orthanc, n: int = 1):
    """Wait for ``n`` SEG and ``n`` SR series in Orthanc."""
    return wait_for(lambda: counts(orthanc) == (n, n) or None, 120, f"{n} SEG and SR in Orthanc", every=0.3)


def job_with(gateway, predicate, what: str, timeout: float = 60) -> dict:
    return wait_for(lambda: next((j for j in gateway.jobs() if predicate(j)), None), timeout, what)


def test_destination_down_then_up_delivers_once(service_url, gateway_factory, tmp_path):
    port = free_port()
    gateway = gateway_factory(
        MRI_GATEWAY_SERVICE_URL=service_url, MRI_GATEWAY_DESTINATION=f"dicom://ORTHANC@127.0.0.1:{port}"
    ).start()
    push(study("dest-down", ["flair"])["flair"], gateway.dicom_port)
    waiting = job_with(
        gateway, lambda j: j["state"] == "queued" and j["attempts"] >= 1, "a retry after the refusal"
    )
    assert "association refused" in waiting["reason"], waiting
    with run_orthanc(tmp_path / "pacs", dicom_port=port) as orthanc:
        delivered(orthanc)
        [job] = gateway.wait_finished(1)
        assert job["state"] == "sent" and job["attempts"] >= 2, job
        assert counts(orthanc) == (1, 1)
        [seg] = orthanc.series_of("SEG")
        assert len(seg["Instances"]) == 1


def test_service_down_then_up(gateway_factory, orthanc_factory):
    from service.settings import DEFAULT_MODELS_DIR

    sock = bound_socket()  # bound, not listening: connections are refused until the service starts
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    orthanc = orthanc_factory()
    gateway = gateway_factory(
        MRI_GATEWAY_SERVICE_URL=url, MRI_GATEWAY_DESTINATION=orthanc.destination
    ).start()
    push(study("service-down", ["flair"])["flair"], gateway.dicom_port)
    waiting = job_with(gateway, lambda j: j["state"] == "queued" and j["attempts"] >= 1, "a retry")
    assert "cannot be reached" in waiting["reason"], waiting
    # answers 503 while its models load, then 200; one runtime named, so that its start-up (not the
    # measurement of every runtime, MRI_RUNTIME=auto) stays within the gateway's tries
    pinned = {"runtime": "onnxruntime", "intra_op_threads": 1}
    with serve_app(service_app(DEFAULT_MODELS_DIR, **pinned), sock=sock):
        delivered(orthanc)
        [job] = gateway.wait_finished(1)
    assert job["state"] == "sent", job
    assert counts(orthanc) == (1, 1)


def test_gateway_killed_mid_job_resumes_on_restart(service_url, gateway_factory, orthanc_factory):
    hung = socket.socket()  # a service that accepts the connection and never answers
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    orthanc = orthanc_factory()
    gateway = gateway_factory(
        MRI_GATEWAY_SERVICE_URL=f"http://127.0.0.1:{hung.getsockname()[1]}",
        MRI_GATEWAY_DESTINATION=orthanc.destination,
    ).start()
    series = study("killed", ["flair"])["flair"]
    push(series, gateway.dicom_port)
    running = job_with(gateway, lambda j: j["state"] == "running", "a running job")
    wait_for(lambda: "to the service" in gateway.log(), 30, "the request to the service")
    gateway.kill()
    hung.close()
    assert counts(orthanc) == (0, 0)

    gateway.start(MRI_GATEWAY_SERVICE_URL=service_url)
    delivered(orthanc)
    jobs = gateway.wait_finished(1)
    assert [j["id"] for j in jobs] == [running["id"]], "the same job resumed, no new one"
    assert jobs[0]["state"] == "sent" and jobs[0]["instances"] == len(series), jobs
    assert "resuming 1 job" in gateway.log()
    assert counts(orthanc) == (1, 1)


def _ct(instances: list[pydicom.Dataset]) -> list[pydicom.Dataset]:
    out = []
    for ds in instances:
        ct = copy.deepcopy(ds)
        ct.Modality, ct.SOPClassUID = "CT", CTImageStorage
        ct.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ct.RescaleIntercept, ct.RescaleSlope = -1024, 1
        out.append(ct)
    return out


def _mixed(instances: list[pydicom.Dataset]) -> list[pydicom.Dataset]:
    out = copy.deepcopy(instances)
    out[5].ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0]  # one coronal slice in an axial series
    return out


def _truncated(instances: list[pydicom.Dataset]) -> list[pydicom.Dataset]:
    out = copy.deepcopy(instances)
    out[3].PixelData = out[3].PixelData[: len(out[3].PixelData) // 3 // 2 * 2]
    return out


def test_series_that_cannot_be_analysed_fail_with_a_reason_and_the_gateway_keeps_serving(
    service_url, gateway_factory, orthanc_factory
):
    import httpx

    orthanc = orthanc_factory()
    gateway = gateway_factory(
        MRI_GATEWAY_SERVICE_URL=service_url, MRI_GATEWAY_DESTINATION=orthanc.destination
    )
    gateway.start()
    bad = {
        "CT": (_ct(study("ct", ["flair"])["flair"]), "skipped", "not a brain MR series: Modality CT"),
        "mixed": (_mixed(study("mixed", ["flair"])["flair"]), "failed", "different ImageOrientationPatient"),
        "truncated": (_truncated(study("truncated", ["flair"])["flair"]), "failed", "broken or truncated"),
    }
    for instances, _, _ in bad.values():
        push(instances, gateway.dicom_port)
    good = study("good", ["flair"])["flair"]
    push(good, gateway.dicom_port)

    jobs = {j["series_instance_uid"]: j for j in gateway.wait_finished(4)}
    for name, (instances, state, reason) in bad.items():
        job = jobs[str(instances[0].SeriesInstanceUID)]
        assert job["state"] == state and reason in job["reason"], (name, job)
    assert jobs[str(good[0].SeriesInstanceUID)]["state"] == "sent"
    delivered(orthanc)

    # a failed job can be retried (and fails again for the same reason); a sent one cannot
    mixed_job = jobs[str(bad["mixed"][0][0].SeriesInstanceUID)]
    retried = httpx.post(f"{gateway.url}/jobs/{mixed_job['id']}/retry")
    assert retried.status_code == 200 and retried.json()["state"] == "queued", retried.text
    wait_for(
        lambda: (
            gateway.job(mixed_job["id"])["state"] == "failed"
            and gateway.job(mixed_job["id"])["attempts"] == 1
        ),
        30,
        "the retried job to fail again",
    )
    sent_id = jobs[str(good[0].SeriesInstanceUID)]["id"]
    assert httpx.post(f"{gateway.url}/jobs/{sent_id}/retry").status_code == 409
    assert gateway.process.poll() is None
    metrics = httpx.get(f"{gateway.url}/metrics").text
    assert (
        'mri_gateway_jobs{state="failed"} 2.0' in metrics
        and 'mri_gateway_jobs{state="skipped"} 1.0' in metrics
    )
    assert 'mri_gateway_associations_total{outcome="released"} 4.0' in metrics
    received = re.search(r"^mri_gateway_instances_received_total (\S+)$", metrics, re.MULTILINE)
    assert received and float(received[1]) == 4 * len(good)
