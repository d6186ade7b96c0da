"""The scheduler without Orthanc: the gateway in this process (its real DICOM listener, job store,
spool and pipeline) on a clock the test moves, pynetdicom as the modality, the real service (tiny
models) or a server that cannot be reached or answers 503, and a real storage SCP as the PACS.

Backoff and ``Retry-After``, the retry horizon, attempts and a bulk re-drive; incomplete series that
wait and then go or fail; the same series twice gives one SEG and SR, a changed one supersedes it;
received files go when the study is done; a CT series is skipped; a late companion is not claimed."""

from __future__ import annotations

import copy

import pydicom
import pytest
from pydicom.uid import CTImageStorage
from pynetdicom import AE

from gateway import states
from tests.gateway.conftest import Clock, push, run_jobs, study, wait_for
from tests.gateway.pacs import store_scp
from tests.gateway.web import answering
from tests.servers import bound_socket, serve_app, service_app


@pytest.fixture
def pacs():
    with store_scp() as scp:
        yield scp


def _port(gateway) -> int:
    return gateway.listener.port_bound()[1]


def _job(gateway, job_id: int):
    return gateway.store.get(job_id)


def test_backoff_doubles_to_its_cap_the_horizon_fails_it_and_a_redrive_sends_it(
    local_gateway, pacs, tmp_path
):
    from tests.tiny_models import build_tiny_models

    clock = Clock()
    sock = bound_socket()  # a service that cannot be reached until it starts on this socket
    gateway = local_gateway(
        clock, service_url=f"http://127.0.0.1:{sock.getsockname()[1]}", destination=pacs.destination,
        retry_horizon_h=0.01,  # 36 s
    )  # fmt: skip
    push(study("backoff", ["flair"])["flair"], _port(gateway))
    delays = []
    while True:
        [job] = run_jobs(gateway, rounds=1)
        if job.state != states.QUEUED:
            break
        assert "cannot be reached" in job.reason and f"try {job.attempts}" in job.reason
        delays.append(job.next_try_at - clock.now)
        clock.now = job.next_try_at
    assert delays == [1, 2, 4, 8, 8, 8, 8]  # MRI_GATEWAY_BACKOFF_S 1, doubled, BACKOFF_MAX_S 8
    assert job.state == states.FAILED and job.attempts == 8
    assert "gave up after 8 tries over 0.01 h (MRI_GATEWAY_RETRY_HORIZON_H)" in job.reason
    assert gateway.metrics.retries._value.get() == 7

    assert gateway.store.redrive(reason_contains="CANNOT BE REACHED") == [job.id]
    with serve_app(service_app(build_tiny_models(tmp_path / "models")), sock=sock):
        [job] = run_jobs(gateway)
    assert job.state == states.SENT and job.attempts == 1, job
    assert len(pacs.of("SEG")) == 1 and len(pacs.of("SR")) == 1


def test_retry_after_of_a_busy_service_is_honoured(local_gateway, pacs):
    clock = Clock()
    with answering(503, {"Retry-After": "30"}, {"detail": "busy"}) as busy:
        gateway = local_gateway(clock, service_url=busy.url, destination=pacs.destination)
        push(study("retry-after", ["flair"])["flair"], _port(gateway))
        [job] = run_jobs(gateway, rounds=1)
        assert job.state == states.QUEUED and job.next_try_at == clock.now + 30, job
        assert "503" in job.reason and "busy" in job.reason
        busy.headers.clear()  # no Retry-After: the backoff (2 s at the second try)
        clock.now += 30
        [job] = run_jobs(gateway, rounds=1)
        assert job.next_try_at == clock.now + 2 and job.attempts == 2


def test_a_job_left_running_resumes_once_and_fails_naming_its_phase_the_second_time(local_gateway, tmp_path):
    from gateway.app import Gateway

    first = local_gateway(service_url="http://127.0.0.1:9")
    push(study("resume", ["flair"])["flair"], _port(first))
    first.store.promote_stable(first.store._clock() + 1)
    job = first.store.claim()
    first.store.update(job.id, phase="waiting for the service")
    first.store.close()  # as a crash: the job stays running

    again = Gateway(first.settings)
    again.scheduler.resume()
    job = again.store.get(job.id)
    assert job.state == states.QUEUED and job.interruptions == 1 and "resumed" in job.reason
    assert again.store.claim().attempts == 2  # attempts counted across the restart
    again.store.close()

    third = Gateway(first.settings)
    third.scheduler.resume()
    job = third.store.get(job.id)
    assert job.state == states.FAILED and job.interruptions == 2
    assert "stopped 2 times while running this job" in job.reason and "starting" in job.reason
    assert third.store.retry(job.id) and third.store.get(job.id).interruptions == 0
    third.store.close()


def test_a_clean_stop_queues_its_running_jobs_without_counting(local_gateway):
    gateway = local_gateway(service_url="http://127.0.0.1:9")
    push(study("clean-stop", ["flair"])["flair"], _port(gateway))
    gateway.store.promote_stable(gateway.store._clock() + 1)
    job = gateway.store.claim()
    gateway.scheduler._running.add(job.id)
    gateway.scheduler.stop(timeout=0)
    job = gateway.store.get(job.id)
    assert job.state == states.QUEUED and job.interruptions == 0 and "stopped" in job.reason


def test_an_incomplete_series_waits_and_goes_when_the_missing_instance_arrives(
    local_gateway, pacs, tiny_service_url
):
    clock = Clock()
    gateway = local_gateway(clock, service_url=tiny_service_url, destination=pacs.destination)
    flair = study("incomplete", ["flair"])["flair"]
    push(flair[:4] + flair[5:], _port(gateway))  # instance 5 missing: a gap inside
    [job] = run_jobs(gateway, rounds=1)
    assert job.state == states.QUEUED and job.reason.startswith("incomplete: instance number 5 missing"), job
    assert gateway.spool.series_files(job.study_uid, job.series_uid), "kept while it waits"
    push(flair[4:5], _port(gateway))
    assert _job(gateway, job.id).state == states.RECEIVING  # the same job, reopened
    [job] = run_jobs(gateway)
    assert job.state == states.SENT and job.instances == len(flair)
    assert len(pacs.of("SEG")) == 1 and len(pacs.of("SR")) == 1
    assert not gateway.spool.series_files(job.study_uid, job.series_uid), "received files deleted once sent"


def test_an_incomplete_series_fails_with_the_reason_after_the_wait(local_gateway, pacs, tiny_service_url):
    clock = Clock()
    gateway = local_gateway(
        clock, service_url=tiny_service_url, destination=pacs.destination, incomplete_wait_s=60
    )
    flair = study("truncated-head", ["flair"])["flair"]
    push(flair[2:], _port(gateway))  # the first two instances never come
    [job] = run_jobs(gateway, rounds=1)
    assert job.state == states.QUEUED and "instance numbers 1-2 missing" in job.reason
    clock.now += 61
    [job] = run_jobs(gateway)
    assert job.state == states.FAILED
    assert job.reason == (
        "incomplete series: instance numbers 1-2 missing; nothing more arrived within 60 s "
        "(MRI_GATEWAY_INCOMPLETE_WAIT_S)"
    )
    assert pacs.received == [], "nothing analysed"


def test_a_series_whose_association_was_aborted_waits_for_the_rest(local_gateway, pacs, tiny_service_url):
    gateway = local_gateway(service_url=tiny_service_url, destination=pacs.destination)
    flair = study("aborted", ["flair"])["flair"]
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(flair[0].SOPClassUID, flair[0].file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", _port(gateway), ae_title="MRI-AI")
    for ds in flair[:6]:
        assert assoc.send_c_store(ds).Status == 0
    assoc.abort()
    [job] = run_jobs(gateway, rounds=1)
    assert job.state == states.QUEUED and "association that sent it was aborted" in job.reason, job
    push(flair, _port(gateway))  # the sender tries again: the whole series
    [job] = run_jobs(gateway)
    assert job.state == states.SENT and job.instances == len(flair)

    def both():
        records = [r["outcome"] for r in gateway.audit.tail() if r["event"] == "association"]
        return records if len(records) == 2 else None

    assert wait_for(both, 10, "the two associations' records") == ["released", "aborted"]  # newest first


def test_the_same_series_twice_gives_one_seg_and_sr_and_a_changed_one_supersedes(
    local_gateway, pacs, tiny_service_url
):
    gateway = local_gateway(service_url=tiny_service_url, destination=pacs.destination)
    flair = study("twice", ["flair"])["flair"]
    push(flair[:-1] + flair[:3], _port(gateway))  # the last slice not yet; three instances repeated
    [first] = run_jobs(gateway)
    assert first.state == states.SENT and first.instances == len(flair) - 1, "a repeated instance counts once"
    push(flair[:-1], _port(gateway))  # the same instances again
    push(flair[:5], _port(gateway))  # a part of them
    jobs = run_jobs(gateway)
    for again in jobs[1:]:
        assert again.state == states.SKIPPED and again.reason.startswith(
            f"already analysed: job {first.id}"
        ), again
    assert len(pacs.of("SEG")) == 1 and len(pacs.of("SR")) == 1

    push(flair, _port(gateway))  # changed: one instance more
    jobs = run_jobs(gateway)
    changed = jobs[-1]
    assert changed.state == states.SENT and changed.supersedes == first.id and changed.instances == len(flair)
    assert jobs[0].state == states.SUPERSEDED and f"superseded by job {changed.id}" in jobs[0].reason
    assert len(pacs.of("SEG")) == 2 and len(pacs.of("SR")) == 2
    result_records = [r for r in gateway.audit.tail() if r["event"] == "result"]
    assert [r["job"] for r in result_records] == [changed.id, first.id]
    assert result_records[0]["supersedes"] == [first.id]


def _ct(instances: list[pydicom.Dataset]) -> list[pydicom.Dataset]:
    out = []
    for ds in copy.deepcopy(instances):
        ds.Modality, ds.SOPClassUID = "CT", CTImageStorage
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        out.append(ds)
    return out


def test_a_ct_series_is_skipped_not_failed(local_gateway, pacs, tiny_service_url):
    gateway = local_gateway(service_url=tiny_service_url, destination=pacs.destination)
    push(_ct(study("ct", ["flair"])["flair"]), _port(gateway))
    [job] = run_jobs(gateway)
    assert job.state == states.SKIPPED and job.reason == "not a brain MR series: Modality CT"
    assert gateway.metrics.finished.labels(states.SKIPPED)._value.get() == 1


def test_a_companion_not_used_by_the_flair_job_does_not_claim_it_was(local_gateway, pacs, tiny_service_url):
    gateway = local_gateway(service_url=tiny_service_url, destination=pacs.destination)
    series = study("late", ["pre", "flair", "post"])
    push(series["flair"] + series["pre"], _port(gateway))
    gateway.scheduler.tick()  # the FLAIR job runs before the post-contrast series is there
    flair_job = gateway.store.list(limit=10)[-1]
    assert flair_job.state == states.SENT and flair_job.result["sequences"] == "FLAIR only"
    push(series["post"], _port(gateway))  # late, while the pre-contrast job still waits
    jobs = run_jobs(gateway)
    for job in jobs[1:]:
        assert job.state == states.SKIPPED, job
        assert job.reason.startswith(
            f"a {'pre' if job.id == jobs[1].id else 'post'}-contrast series, not used by job {flair_job.id}"
        )
        assert "FLAIR only" in job.reason


def test_secondary_capture_goes_with_the_seg_and_sr_when_asked(local_gateway, pacs, tiny_service_url):
    gateway = local_gateway(
        service_url=tiny_service_url, destination=pacs.destination, secondary_capture=True
    )
    flair = study("capture", ["flair"])["flair"]
    push(flair, _port(gateway))
    [job] = run_jobs(gateway)
    assert job.state == states.SENT and job.result["secondary_capture_instances"] == len(flair)
    captures = pacs.of("OT")
    assert len(captures) == len(flair) and {ds.StudyInstanceUID for ds in captures} == {
        flair[0].StudyInstanceUID
    }
    assert {ds.SeriesNumber for ds in captures} == {9903}


@pytest.mark.slow
def test_a_job_the_gateway_dies_in_twice_ends_failed_with_its_cause(gateway_factory):
    """The gateway process killed (SIGKILL) twice while its request to the service is in flight: the
    first restart resumes the job, the second fails it naming where it was, and the gateway serves on."""
    import socket

    hung = socket.socket()  # a service that accepts the connection and never answers
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    gateway = gateway_factory(
        MRI_GATEWAY_SERVICE_URL=f"http://127.0.0.1:{hung.getsockname()[1]}",
        MRI_GATEWAY_DESTINATION="dicom://PACS@127.0.0.1:9",
    ).start()
    push(study("dies-twice", ["flair"])["flair"], gateway.dicom_port)
    for start in (1, 2):
        job = wait_for(lambda: next((j for j in gateway.jobs() if j["phase"] == "waiting for the service"), None),
                       60, "the job waiting for the service")  # fmt: skip
        assert job["interruptions"] == start - 1
        gateway.kill()
        gateway.start()
    [job] = gateway.wait_finished(1)
    assert job["state"] == "failed" and job["interruptions"] == 2 and job["attempts"] == 2, job
    assert job["reason"].startswith(
        "the gateway stopped 2 times while running this job (last while waiting for the service)"
    )
    assert "resuming 1 job" in gateway.log()
    hung.close()
