"""gateway/jobs.py (the SQLite job store) and the scheduler's retries and clean-up, on a real file."""

from __future__ import annotations

import pytest

from gateway import jobs as j
from gateway.jobs import SqliteJobStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    store = SqliteJobStore(tmp_path / "jobs.sqlite", clock=clock)
    yield store
    store.close()


def test_instances_of_a_series_gather_in_one_job_until_the_study_is_quiet(store, clock):
    a = store.record_instance("1.1", "1.1.1", "SCANNER", "dicom://PACS@h:1")
    assert store.record_instance("1.1", "1.1.1", "SCANNER", None) == a
    b = store.record_instance("1.1", "1.1.2", "SCANNER", None)
    other = store.record_instance("1.2", "1.2.1", "SCANNER", None)
    assert len({a, b, other}) == 3
    assert store.get(a).instances == 2 and store.get(a).destination == "dicom://PACS@h:1"
    clock.now += 5
    store.record_instance("1.1", "1.1.2", "SCANNER", None)  # study 1.1 still receiving
    assert store.promote_stable(quiet_since=clock.now - 3) == [other]
    clock.now += 5
    assert store.promote_stable(quiet_since=clock.now - 3) == [a, b]
    assert {store.get(i).state for i in (a, b, other)} == {j.QUEUED}


def test_a_late_instance_reopens_a_queued_job_and_starts_a_new_one_after_it_ran(store, clock):
    a = store.record_instance("1", "1.1", "S", None)
    store.promote_stable(clock.now + 1)
    assert store.record_instance("1", "1.1", "S", None) == a and store.get(a).state == j.RECEIVING
    store.promote_stable(clock.now + 1)
    assert store.claim().id == a
    b = store.record_instance("1", "1.1", "S", None)
    assert b != a and store.get(b).state == j.RECEIVING and store.get(a).state == j.RUNNING


def test_claim_requeue_retry_and_resume(store, clock):
    a = store.create("1", "1.1", j.DICOMWEB, "http://pacs/dicom-web", "dicomweb://http://pacs/dicom-web")
    job = store.claim()
    assert job.id == a and job.state == j.RUNNING and job.attempts == 1
    assert store.claim() is None
    store.requeue(a, "service down", clock.now + 10)
    assert store.claim() is None  # not due yet
    clock.now += 10
    assert store.claim().attempts == 2
    store.finish(a, j.FAILED, "gave up")
    assert store.retry(a) and store.get(a).attempts == 0 and store.get(a).state == j.QUEUED
    assert not store.retry(a)  # only failed jobs
    store.claim()
    assert store.resume() == 1 and store.get(a).state == j.QUEUED
    with pytest.raises(ValueError):
        store.finish(a, j.RUNNING)


def test_state_survives_reopening_the_file(tmp_path, clock):
    first = SqliteJobStore(tmp_path / "jobs.sqlite", clock=clock)
    a = first.create("1", "1.1", j.DIMSE, "S", None)
    first.update(a, result={"tumour_voxels": 3})
    first.close()
    again = SqliteJobStore(tmp_path / "jobs.sqlite", clock=clock)
    assert again.get(a).result == {"tumour_voxels": 3} and again.counts()[j.QUEUED] == 1
    assert [job.id for job in again.list()] == [a] and again.list(state=j.SENT) == []
    again.close()


def test_cleanup_removes_finished_jobs_their_spool_and_results(tmp_path):
    import time

    from gateway.metrics import Metrics
    from gateway.pipeline import Context
    from gateway.scheduler import Scheduler
    from gateway.settings import GatewaySettings
    from gateway.spool import Spool

    settings = GatewaySettings(state_dir=tmp_path / "state", retention_h=1)
    store, spool = SqliteJobStore(settings.database), Spool(settings.spool_dir, settings.results_dir)
    old, new, open_ = (store.create("9", f"9.{i}", j.DIMSE, "S", None) for i in range(3))
    for job_id in (old, new, open_):
        spool.store("9", f"9.{job_id - old}", "9.9.9", b"x")
        (spool.result_dir(job_id)).mkdir(parents=True)
    store.finish(old, j.SENT)
    store.finish(new, j.SENT)
    store._tx("UPDATE jobs SET updated_at = ? WHERE id = ?", (time.time() - 2 * 3600, old))
    store._tx("UPDATE jobs SET updated_at = ? WHERE id = ?", (time.time() - 2 * 3600, open_))  # not finished
    scheduler = Scheduler(Context(settings, store, spool), Metrics(store))
    assert scheduler.cleanup() == 1
    assert store.get(old) is None and store.get(new) and store.get(open_)
    assert (
        not spool.series_files("9", "9.0")
        and spool.series_files("9", "9.1")
        and spool.series_files("9", "9.2")
    )
    assert not spool.result_dir(old).exists() and spool.result_dir(new).exists()
    store.close()
