"""gateway/jobs.py (the SQLite job store) on a real file: instances counted once, the state table
enforced, re-drives, resume after a stop, an older file opened, the content queries, retention."""

from __future__ import annotations

import itertools
import sqlite3

import pytest

from gateway import states
from gateway.jobs import DICOMWEB, DIMSE, SqliteJobStore
from gateway.states import InvalidTransition
from tests.gateway.conftest import Clock


@pytest.fixture
def clock():
    return Clock(1000.0)


@pytest.fixture
def store(tmp_path, clock):
    store = SqliteJobStore(tmp_path / "jobs.sqlite", clock=clock)
    yield store
    store.close()


def test_instances_of_a_series_gather_in_one_job_counted_once_until_the_study_is_quiet(store, clock):
    a, new = store.record_instance("1.1", "1.1.1", "1.1.1.1", "SCANNER", "dicom://PACS@h:1")
    assert new and store.record_instance("1.1", "1.1.1", "1.1.1.1", "SCANNER", None) == (a, False)
    assert store.record_instance("1.1", "1.1.1", "1.1.1.2", "SCANNER", None) == (a, True)
    b, _ = store.record_instance("1.1", "1.1.2", "1.1.2.1", "SCANNER", None)
    other, _ = store.record_instance("1.2", "1.2.1", "1.2.1.1", "SCANNER", None)
    assert len({a, b, other}) == 3
    assert store.get(a).instances == 2 and store.get(a).destination == "dicom://PACS@h:1"
    clock.now += 5
    store.record_instance("1.1", "1.1.2", "1.1.2.2", "SCANNER", None)  # study 1.1 still receiving
    assert store.promote_stable(quiet_since=clock.now - 3) == [other]
    clock.now += 5
    assert store.promote_stable(quiet_since=clock.now - 3) == [a, b]
    assert {store.get(i).state for i in (a, b, other)} == {states.QUEUED}


def test_a_late_instance_reopens_a_job_not_analysed_yet_and_starts_a_new_one_after(store, clock):
    a, _ = store.record_instance("1", "1.1", "1.1.1", "S", None)
    store.promote_stable(clock.now + 1)
    assert (
        store.record_instance("1", "1.1", "1.1.2", "S", None)[0] == a
        and store.get(a).state == states.RECEIVING
    )
    store.promote_stable(clock.now + 1)
    assert store.claim().id == a
    store.requeue(a, "incomplete: waiting", clock.now + 60)  # waiting for instances: reopened by one
    assert store.record_instance("1", "1.1", "1.1.3", "S", None)[0] == a
    store.promote_stable(clock.now + 1)
    store.claim()
    store.update(a, result={"tumour_voxels": 1})  # analysed: a later instance is a new job
    store.requeue(a, "destination down", clock.now + 60)
    b, _ = store.record_instance("1", "1.1", "1.1.4", "S", None)
    assert b != a and store.get(b).state == states.RECEIVING and store.get(a).state == states.QUEUED


def _in_state(store, state: str) -> int:
    job_id, _ = store.create("9", f"9.{state}", DIMSE, "S", None)
    store._tx("UPDATE jobs SET state = ? WHERE id = ?", (state, job_id))  # placed there for the table test
    return job_id


@pytest.mark.parametrize(("source", "target"), list(itertools.product(states.STATES, states.STATES)))
def test_the_store_allows_exactly_the_transitions_of_the_table(store, source, target):
    job_id = _in_state(store, source)
    if target in states.TRANSITIONS[source]:
        store.move(job_id, target)
        assert store.get(job_id).state == target
    else:
        with pytest.raises(InvalidTransition, match=f"{source} -> {target}"):
            store.move(job_id, target)
        assert store.get(job_id).state == source


def test_every_transition_is_explained_and_new_jobs_start_receiving_or_queued():
    pairs = {(s, t) for s, targets in states.TRANSITIONS.items() for t in targets}
    assert pairs == set(states.WHY)
    assert set(states.TRANSITIONS) == set(states.STATES)
    assert states.INITIAL == (states.RECEIVING, states.QUEUED)


def test_claim_requeue_retry_redrive_and_resume(store, clock):
    a, new = store.create("1", "1.1", DICOMWEB, "http://pacs/dicom-web", "dicomweb://http://pacs/dicom-web")
    assert new and store.create("1", "1.1", DICOMWEB, "http://pacs/dicom-web", None) == (a, False)
    job = store.claim()
    assert job.id == a and job.state == states.RUNNING and job.attempts == 1 and job.first_try_at == clock.now
    assert store.claim() is None
    store.requeue(a, "service down", clock.now + 10)
    assert store.claim() is None  # not due yet
    clock.now += 10
    assert store.claim().attempts == 2 and store.get(a).first_try_at == clock.now - 10
    store.finish(a, states.FAILED, "gave up: service down")
    b, _ = store.create("1", "1.2", DICOMWEB, "http://pacs/dicom-web", None)
    store.claim()
    store.finish(b, states.FAILED, "the service refused the series (422)")
    assert store.redrive(reason_contains="SERVICE DOWN") == [a]
    assert (
        store.get(a).attempts == 0 and store.get(a).state == states.QUEUED and store.get(a).first_try_at == 0
    )
    assert not store.retry(a)  # only failed jobs
    assert store.redrive(since=clock.now + 1) == []
    assert store.retry(b)
    store.claim()
    queued, failed = store.resume()
    assert [j.id for j in queued] == [a] and failed == [] and store.get(a).interruptions == 1
    with pytest.raises(InvalidTransition):
        store.finish(a, states.RUNNING)


def test_an_older_job_file_gains_the_new_columns(tmp_path, clock):
    path = tmp_path / "jobs.sqlite"
    with sqlite3.connect(path) as db:  # the first release's table
        db.executescript(
            "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, study_uid TEXT NOT NULL, series_uid TEXT"
            " NOT NULL, source TEXT NOT NULL, origin TEXT NOT NULL, destination TEXT, state TEXT NOT NULL, reason"
            " TEXT, attempts INTEGER NOT NULL DEFAULT 0, next_try_at REAL NOT NULL DEFAULT 0, created_at REAL NOT"
            " NULL, updated_at REAL NOT NULL, last_received_at REAL NOT NULL DEFAULT 0, instances INTEGER NOT NULL"
            " DEFAULT 0, result TEXT NOT NULL DEFAULT '{}');"
            "INSERT INTO jobs (study_uid, series_uid, source, origin, state, created_at, updated_at)"
            " VALUES ('1', '1.1', 'dimse', 'S', 'failed', 1, 1);"
        )
    store = SqliteJobStore(path, clock=clock)
    job = store.get(1)
    assert job.state == states.FAILED and job.interruptions == 0 and job.content_key is None
    assert store.retry(1) and store.claim().id == 1
    store.close()


def test_same_content_by_key_or_as_a_part_and_supersede(store, clock):
    def sent_job(series: str, sops: list[str], key: str) -> int:
        job_id, _ = store.create("1", series, DIMSE, "S", None)
        store.set_instances(job_id, sops)
        store.update(job_id, content_key=key)
        store._tx("UPDATE jobs SET state = 'sent' WHERE id = ?", (job_id,))
        return job_id

    first = sent_job("1.1", ["a", "b", "c"], "k1")
    again, _ = store.create("1", "1.1", DIMSE, "S", None)
    store.update(again, content_key="k1")
    assert store.same_content(store.get(again)).id == first
    part, _ = store.create("1", "1.1", DIMSE, "S", None)
    store.set_instances(part, ["b", "c"])
    store.update(part, content_key="k-part")
    assert store.same_content(store.get(part)).id == first
    changed, _ = store.create("1", "1.1", DIMSE, "S", None)
    store.set_instances(changed, ["a", "b", "c", "d"])
    store.update(changed, content_key="k2")
    assert store.same_content(store.get(changed)) is None
    assert store.get(changed).instances == 4
    assert store.supersede(store.get(changed)) == [first]
    assert store.get(first).state == states.SUPERSEDED and store.get(changed).supersedes == first


def test_cleanup_removes_finished_jobs_their_spool_and_results(tmp_path, clock):
    from gateway.app import Gateway
    from gateway.settings import GatewaySettings

    gateway = Gateway(GatewaySettings(state_dir=tmp_path / "state", retention_h=1), clock=clock)
    store, spool = gateway.store, gateway.spool
    old, new, open_ = (store.create("9", f"9.{i}", DIMSE, "S", None)[0] for i in range(3))
    for job_id in (old, new, open_):
        spool.store("9", f"9.{job_id - old}", "9.9.9", b"x")
        spool.result_dir(job_id).mkdir(parents=True)
    for job_id in (old, new):
        store.claim()
        store.finish(job_id, states.SENT)
    store._tx("UPDATE jobs SET updated_at = ? WHERE id IN (?, ?)", (clock.now - 2 * 3600, old, open_))
    assert gateway.scheduler.cleanup() == 1
    assert store.get(old) is None and store.get(new) and store.get(open_)
    assert (
        not spool.series_files("9", "9.0")
        and spool.series_files("9", "9.1")
        and spool.series_files("9", "9.2")
    )
    assert not spool.result_dir(old).exists() and spool.result_dir(new).exists()
    store.close()


def test_the_documented_state_table_is_the_enforced_one():
    import re

    from tests.gateway.conftest import REPO

    text = (REPO / "docs" / "integration.md").read_text()
    rows = re.findall(r"^\| (`\w+`|\(new\)) \| `(\w+)` \|", text, re.MULTILINE)
    documented = {(source.strip("`"), target) for source, target in rows}
    enforced = {(s, t) for s, targets in states.TRANSITIONS.items() for t in targets}
    assert documented == enforced | {("(new)", s) for s in states.INITIAL}
