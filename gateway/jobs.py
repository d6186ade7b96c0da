"""The job store: one job per received or pulled series, behind a small interface (:class:`JobStore`).

Every change of state goes through :meth:`SqliteJobStore.move`, which allows only the transitions
of :data:`gateway.states.TRANSITIONS` (``UPDATE ... WHERE state IN (the allowed sources)``).
:class:`SqliteJobStore` is the embedded default (one file under ``MRI_GATEWAY_STATE_DIR``, WAL,
synchronous writes; every change one transaction, so a gateway killed at any point finds each job
where it last was); a server database can replace it by implementing the same methods. The
instances each job counted are kept as digests of their SOP Instance UIDs (a repeated instance is
counted once; :mod:`gateway.content` compares jobs by them). Older files gain the new columns at
open.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.content import ContentQueries, digest
from gateway.recovery import RecoveryQueries
from gateway.states import (
    FAILED,
    FINISHED,
    INITIAL,
    QUEUED,
    RECEIVING,
    RUNNING,
    STATES,
    TRANSITIONS,
    InvalidTransition,
    sources,
)

DIMSE, DICOMWEB = "dimse", "dicomweb"


@dataclass
class Job:
    """One series and what became of it. ``origin``: the sender's AE title (``dimse``) or the
    DICOMweb URL it was pulled from (``dicomweb``); ``destination``: where its results go (None:
    nowhere known, the job fails with that reason); ``result``: the figures reported (tumour
    volume, slices, probability, models, sequences, SEG/SR UIDs); ``content_key``: the digest of
    the instances it analysed (:mod:`gateway.content`); ``phase``: what a running job is doing;
    ``interruptions``: how often the gateway stopped while running it; ``transfer_aborted``: the
    association that last brought instances of it was aborted (the series may be partial)."""

    id: int
    study_uid: str
    series_uid: str
    source: str
    origin: str
    destination: str | None
    state: str
    reason: str | None = None
    attempts: int = 0
    next_try_at: float = 0.0
    created_at: float = 0.0
    updated_at: float = 0.0
    last_received_at: float = 0.0
    instances: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    content_key: str | None = None
    phase: str | None = None
    interruptions: int = 0
    first_try_at: float = 0.0
    supersedes: int | None = None
    transfer_aborted: int = 0

    def public(self) -> dict[str, Any]:
        """The job as the HTTP API shows it."""
        return {
            "id": self.id, "state": self.state, "reason": self.reason,
            "study_instance_uid": self.study_uid, "series_instance_uid": self.series_uid,
            "source": self.source, "origin": self.origin, "destination": self.destination,
            "attempts": self.attempts, "interruptions": self.interruptions, "instances": self.instances,
            "phase": self.phase if self.state == "running" else None,
            "created_at": self.created_at, "updated_at": self.updated_at,
            "last_received_at": self.last_received_at or None,
            "next_try_at": self.next_try_at if self.state == QUEUED else None,
            "supersedes": self.supersedes, "result": self.result or None,
        }  # fmt: skip


_COLUMNS = tuple(Job.__dataclass_fields__)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    study_uid TEXT NOT NULL, series_uid TEXT NOT NULL, source TEXT NOT NULL, origin TEXT NOT NULL,
    destination TEXT, state TEXT NOT NULL, reason TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    last_received_at REAL NOT NULL DEFAULT 0, instances INTEGER NOT NULL DEFAULT 0,
    result TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS instances (job_id INTEGER NOT NULL, sop TEXT NOT NULL, PRIMARY KEY (job_id, sop));
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, next_try_at);
CREATE INDEX IF NOT EXISTS jobs_series ON jobs (series_uid, state);
CREATE INDEX IF NOT EXISTS jobs_study ON jobs (study_uid);
"""
#: Columns added since the first release: ``ALTER TABLE`` on an older file.
_ADDED = {
    "content_key": "TEXT", "phase": "TEXT", "interruptions": "INTEGER NOT NULL DEFAULT 0",
    "first_try_at": "REAL NOT NULL DEFAULT 0", "supersedes": "INTEGER",
    "transfer_aborted": "INTEGER NOT NULL DEFAULT 0",
}  # fmt: skip
#: The moves the store makes in bulk SQL (promote, claim, reopen, re-drive) rather than through
#: :meth:`SqliteJobStore.move`: they must be in the table too.
_BULK_MOVES = ((RECEIVING, QUEUED), (QUEUED, RUNNING), (QUEUED, RECEIVING), (FAILED, QUEUED))
if not all(target in TRANSITIONS[source] for source, target in _BULK_MOVES):
    raise InvalidTransition(f"a bulk move is not in the state table: {_BULK_MOVES}")
_UPDATABLE = {"reason", "destination", "instances", "result", "content_key", "phase", "supersedes"}
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM jobs"


class SqliteJobStore(ContentQueries, RecoveryQueries):
    """:class:`JobStore` in one SQLite file (WAL journal; one connection shared under a lock)."""

    def __init__(self, path: Path, clock=time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        present = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, kind in _ADDED.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
        self._lock = threading.RLock()
        self._clock = clock

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def _jobs(self, where: str, args: tuple = ()) -> list[Job]:
        return [_job(r) for r in self._tx(f"{_SELECT} {where}", args).fetchall()]

    def record_instance(
        self, study_uid: str, series_uid: str, sop_uid: str, origin: str, destination: str | None
    ) -> tuple[int, bool]:
        """Count one received instance in its series' open job (``receiving``, or ``queued`` and not
        analysed yet: back to ``receiving``), or open a new job. ``(job id, True when the instance
        is new to the job)``: the same SOP Instance UID again is counted once."""
        now = self._clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT id, state FROM jobs WHERE series_uid = ? AND source = ? AND (state = ? OR"
                    " (state = ? AND result = '{}')) ORDER BY id DESC LIMIT 1",
                    (series_uid, DIMSE, RECEIVING, QUEUED),
                ).fetchone()
                if row is None:
                    job_id = self._insert(study_uid, series_uid, DIMSE, origin, destination, RECEIVING, now)
                else:
                    job_id = int(row[0])
                new = self._db.execute(
                    "INSERT OR IGNORE INTO instances (job_id, sop) VALUES (?, ?)", (job_id, digest(sop_uid))
                ).rowcount
                self._db.execute(
                    "UPDATE jobs SET state = ?, instances = instances + ?, last_received_at = ?, updated_at = ?,"
                    " destination = COALESCE(destination, ?) WHERE id = ?",
                    (RECEIVING, new, now, now, destination, job_id),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return job_id, bool(new)

    def create(
        self, study_uid: str, series_uid: str, source: str, origin: str, destination: str | None
    ) -> tuple[int, bool]:
        """A ``queued`` job for a pulled series, unless one for the same series from the same
        origin is not finished yet: ``(its id, True when new)``."""
        with self._lock:
            marks = ", ".join("?" * len(FINISHED))
            row = self._db.execute(
                f"SELECT id FROM jobs WHERE series_uid = ? AND source = ? AND origin = ? AND state NOT IN ({marks})",
                (series_uid, source, origin, *FINISHED),
            ).fetchone()
            if row is not None:
                return int(row[0]), False
            return self._insert(
                study_uid, series_uid, source, origin, destination, QUEUED, self._clock()
            ), True

    def _insert(self, study, series, source, origin, destination, state, now) -> int:
        assert state in INITIAL
        cursor = self._db.execute(
            "INSERT INTO jobs (study_uid, series_uid, source, origin, destination, state, created_at, updated_at,"
            " next_try_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (study, series, source, origin, destination, state, now, now, now),
        )
        return int(cursor.lastrowid)

    def move(self, job_id: int, to: str, **fields: Any) -> None:
        """Change the job's state to ``to`` (and ``fields``), if the table allows it from where it is."""
        allowed = sources(to)
        sets = {"state": to, "updated_at": self._clock(), **_encoded(fields)}
        names = ", ".join(f"{name} = ?" for name in sets)
        marks = ", ".join("?" * len(allowed))
        cursor = self._tx(
            f"UPDATE jobs SET {names} WHERE id = ? AND state IN ({marks})", (*sets.values(), job_id, *allowed)
        )
        if cursor.rowcount != 1:
            job = self.get(job_id)
            raise InvalidTransition(
                f"job {job_id}: {job.state if job else 'no such job'} -> {to} is not allowed"
            )

    def promote_stable(self, quiet_since: float) -> list[int]:
        """``receiving`` -> ``queued`` for every study none of whose series received an instance
        after ``quiet_since``; the promoted ids."""
        now = self._clock()
        rows = self._tx(
            "UPDATE jobs SET state = ?, next_try_at = ?, updated_at = ? WHERE state = ? AND study_uid NOT IN"
            " (SELECT study_uid FROM jobs WHERE state = ? AND last_received_at > ?) RETURNING id",
            (QUEUED, now, now, RECEIVING, RECEIVING, quiet_since),
        ).fetchall()
        return sorted(int(r[0]) for r in rows)

    def claim(self) -> Job | None:
        """The oldest due ``queued`` job, now ``running`` (attempts + 1); None when none is due."""
        now = self._clock()
        row = self._tx(
            "UPDATE jobs SET state = ?, attempts = attempts + 1, updated_at = ?, phase = 'starting',"
            " first_try_at = CASE WHEN first_try_at = 0 THEN ? ELSE first_try_at END WHERE id = (SELECT id FROM"
            " jobs WHERE state = ? AND next_try_at <= ? ORDER BY next_try_at, id LIMIT 1) RETURNING "
            + ", ".join(_COLUMNS),
            (RUNNING, now, now, QUEUED, now),
        ).fetchone()
        return _job(row) if row else None

    def update(self, job_id: int, **fields: Any) -> None:
        """Fields other than the state (:meth:`move` changes that)."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable here: {sorted(unknown)}")
        sets = {**_encoded(fields), "updated_at": self._clock()}
        self._tx(
            f"UPDATE jobs SET {', '.join(f'{n} = ?' for n in sets)} WHERE id = ?", (*sets.values(), job_id)
        )

    def finish(self, job_id: int, state: str, reason: str | None = None) -> None:
        if state not in FINISHED:
            raise InvalidTransition(f"{state!r} is not a finished state")
        self.move(job_id, state, reason=reason, phase=None)

    def requeue(self, job_id: int, reason: str, next_try_at: float) -> None:
        """``running`` -> ``queued`` until ``next_try_at`` (a retry or a wait), keeping the reason."""
        self.move(job_id, QUEUED, reason=reason, next_try_at=next_try_at, phase=None)

    def get(self, job_id: int) -> Job | None:
        found = self._jobs("WHERE id = ?", (job_id,))
        return found[0] if found else None

    def list(self, state: str | None = None, limit: int = 100) -> list[Job]:
        """Newest first."""
        where, args = ("WHERE state = ?", (state,)) if state else ("", ())
        return self._jobs(f"{where} ORDER BY id DESC LIMIT ?", (*args, limit))

    def study_jobs(self, study_uid: str) -> list[Job]:
        return self._jobs("WHERE study_uid = ? ORDER BY id", (study_uid,))

    def expired(self, finished_before: float) -> list[Job]:
        marks = ", ".join("?" * len(FINISHED))
        return self._jobs(
            f"WHERE state IN ({marks}) AND updated_at < ? ORDER BY id", (*FINISHED, finished_before)
        )

    def delete(self, job_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM instances WHERE job_id = ?", (job_id,))
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def counts(self) -> dict[str, int]:
        rows = self._tx("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return dict.fromkeys(STATES, 0) | {str(s): int(n) for s, n in rows}


def _encoded(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: json.dumps(v) if k == "result" else v for k, v in fields.items()}


def _job(row: tuple) -> Job:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["result"] = json.loads(values["result"] or "{}")
    return Job(**values)


# the interface a server database would implement: the public methods of SqliteJobStore
JobStore = SqliteJobStore
