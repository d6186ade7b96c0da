"""The job store: one job per received or pulled series, behind a small interface (:class:`JobStore`).

States: ``receiving`` (instances still arriving) -> ``queued`` (its study stable, or pulled; also
while waiting for a retry, ``next_try_at``) -> ``running`` -> ``sent`` (SEG and SR stored at the
destination) | ``failed`` (with a reason; ``retry`` queues it again) | ``skipped`` (a series that is
not analysed, e.g. the pre-contrast input of a FLAIR job, with the reason). :class:`SqliteJobStore`
is the embedded default (one file under ``MRI_GATEWAY_STATE_DIR``); a server database can replace it
by implementing the same methods. Every change is one transaction, so a gateway killed at any point
finds each job in the state it last reached (``running`` jobs are queued again at start-up).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

RECEIVING, QUEUED, RUNNING, SENT, FAILED, SKIPPED = (
    "receiving",
    "queued",
    "running",
    "sent",
    "failed",
    "skipped",
)
STATES = (RECEIVING, QUEUED, RUNNING, SENT, FAILED, SKIPPED)
FINISHED = (SENT, FAILED, SKIPPED)
DIMSE, DICOMWEB = "dimse", "dicomweb"


@dataclass
class Job:
    """One series and what became of it. ``origin``: the sender's AE title (``dimse``) or the
    DICOMweb URL it was pulled from (``dicomweb``); ``destination``: where its results go (resolved
    when the job is made; None: nowhere known, the job fails with that reason); ``result``: the
    figures reported (tumour volume, slices, probability, models, sequences, SEG/SR UIDs)."""

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

    def public(self) -> dict[str, Any]:
        """The job as the HTTP API shows it."""
        return {
            "id": self.id,
            "state": self.state,
            "reason": self.reason,
            "study_instance_uid": self.study_uid,
            "series_instance_uid": self.series_uid,
            "source": self.source,
            "origin": self.origin,
            "destination": self.destination,
            "attempts": self.attempts,
            "instances": self.instances,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "last_received_at": self.last_received_at or None,
            "next_try_at": self.next_try_at if self.state == QUEUED else None,
            "result": self.result or None,
        }


class JobStore(Protocol):
    """What the gateway needs from a job store."""

    def record_instance(
        self, study_uid: str, series_uid: str, origin: str, destination: str | None
    ) -> int: ...
    def create(
        self, study_uid: str, series_uid: str, source: str, origin: str, destination: str | None
    ) -> int: ...
    def promote_stable(self, quiet_since: float) -> list[int]: ...
    def claim(self) -> Job | None: ...
    def update(self, job_id: int, **fields: Any) -> None: ...
    def finish(self, job_id: int, state: str, reason: str | None = None) -> None: ...
    def requeue(self, job_id: int, reason: str, next_try_at: float) -> None: ...
    def retry(self, job_id: int) -> bool: ...
    def resume(self) -> int: ...
    def get(self, job_id: int) -> Job | None: ...
    def list(self, state: str | None = None, limit: int = 100) -> list[Job]: ...
    def study_jobs(self, study_uid: str) -> list[Job]: ...
    def expired(self, finished_before: float) -> list[Job]: ...
    def delete(self, job_id: int) -> None: ...
    def counts(self) -> dict[str, int]: ...


_COLUMNS = (
    "id", "study_uid", "series_uid", "source", "origin", "destination", "state", "reason", "attempts",
    "next_try_at", "created_at", "updated_at", "last_received_at", "instances", "result",
)  # fmt: skip
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    study_uid TEXT NOT NULL, series_uid TEXT NOT NULL, source TEXT NOT NULL, origin TEXT NOT NULL,
    destination TEXT, state TEXT NOT NULL, reason TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    last_received_at REAL NOT NULL DEFAULT 0, instances INTEGER NOT NULL DEFAULT 0,
    result TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, next_try_at);
CREATE INDEX IF NOT EXISTS jobs_series ON jobs (series_uid, state);
CREATE INDEX IF NOT EXISTS jobs_study ON jobs (study_uid);
"""
_UPDATABLE = {"state", "reason", "attempts", "next_try_at", "destination", "instances", "result"}


class SqliteJobStore:
    """:class:`JobStore` in one SQLite file (WAL journal; one connection shared under a lock)."""

    def __init__(self, path: Path, clock=time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._clock = clock

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def record_instance(self, study_uid: str, series_uid: str, origin: str, destination: str | None) -> int:
        """Count one received instance in its series' open job (``receiving`` or not yet started
        ``queued``: back to ``receiving``), or open a new job; the job's id."""
        now = self._clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT id FROM jobs WHERE series_uid = ? AND source = ? AND state IN (?, ?) AND attempts = 0"
                    " ORDER BY id DESC LIMIT 1",
                    (series_uid, DIMSE, RECEIVING, QUEUED),
                ).fetchone()
                if row is None:
                    job_id = self._insert(study_uid, series_uid, DIMSE, origin, destination, RECEIVING, now)
                else:
                    job_id = int(row[0])
                self._db.execute(
                    "UPDATE jobs SET state = ?, instances = instances + 1, last_received_at = ?, updated_at = ?"
                    " WHERE id = ?",
                    (RECEIVING, now, now, job_id),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return job_id

    def create(
        self, study_uid: str, series_uid: str, source: str, origin: str, destination: str | None
    ) -> int:
        """A new ``queued`` job (a pulled series)."""
        with self._lock:
            return self._insert(study_uid, series_uid, source, origin, destination, QUEUED, self._clock())

    def _insert(self, study, series, source, origin, destination, state, now) -> int:
        cursor = self._db.execute(
            "INSERT INTO jobs (study_uid, series_uid, source, origin, destination, state, created_at, updated_at,"
            " next_try_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (study, series, source, origin, destination, state, now, now, now),
        )
        return int(cursor.lastrowid)

    def promote_stable(self, quiet_since: float) -> list[int]:
        """``receiving`` -> ``queued`` for every study none of whose series received an instance
        after ``quiet_since``; the promoted ids."""
        now = self._clock()
        with self._lock:
            rows = self._db.execute(
                "UPDATE jobs SET state = ?, next_try_at = ?, updated_at = ? WHERE state = ? AND study_uid NOT IN"
                " (SELECT study_uid FROM jobs WHERE state = ? AND last_received_at > ?) RETURNING id",
                (QUEUED, now, now, RECEIVING, RECEIVING, quiet_since),
            ).fetchall()
        return sorted(int(r[0]) for r in rows)

    def claim(self) -> Job | None:
        """The oldest due ``queued`` job, now ``running`` (attempts + 1); None when none is due."""
        now = self._clock()
        with self._lock:
            row = self._db.execute(
                "UPDATE jobs SET state = ?, attempts = attempts + 1, updated_at = ? WHERE id = (SELECT id FROM jobs"
                " WHERE state = ? AND next_try_at <= ? ORDER BY next_try_at, id LIMIT 1) RETURNING "
                + ", ".join(_COLUMNS),
                (RUNNING, now, QUEUED, now),
            ).fetchone()
        return _job(row) if row else None

    def update(self, job_id: int, **fields: Any) -> None:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if "result" in fields:
            fields["result"] = json.dumps(fields["result"])
        names = ", ".join(f"{name} = ?" for name in fields)
        self._tx(
            f"UPDATE jobs SET {names}, updated_at = ? WHERE id = ?", (*fields.values(), self._clock(), job_id)
        )

    def finish(self, job_id: int, state: str, reason: str | None = None) -> None:
        if state not in FINISHED:
            raise ValueError(f"{state!r} is not a finished state")
        self.update(job_id, state=state, reason=reason)

    def requeue(self, job_id: int, reason: str, next_try_at: float) -> None:
        """Back to ``queued`` until ``next_try_at`` (a transient failure), keeping the reason."""
        self.update(job_id, state=QUEUED, reason=reason, next_try_at=next_try_at)

    def retry(self, job_id: int) -> bool:
        """``failed`` -> ``queued`` now with attempts reset; False when the job is not failed."""
        now = self._clock()
        cursor = self._tx(
            "UPDATE jobs SET state = ?, attempts = 0, next_try_at = ?, updated_at = ? WHERE id = ? AND state = ?",
            (QUEUED, now, now, job_id, FAILED),
        )
        return cursor.rowcount == 1

    def resume(self) -> int:
        """At start-up: jobs left ``running`` by a stopped gateway are queued again; how many."""
        now = self._clock()
        cursor = self._tx(
            "UPDATE jobs SET state = ?, next_try_at = ?, updated_at = ? WHERE state = ?",
            (QUEUED, now, now, RUNNING),
        )
        return cursor.rowcount

    def get(self, job_id: int) -> Job | None:
        row = self._tx(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list(self, state: str | None = None, limit: int = 100) -> list[Job]:
        """Newest first."""
        where, args = ("WHERE state = ?", (state,)) if state else ("", ())
        rows = self._tx(
            f"SELECT {', '.join(_COLUMNS)} FROM jobs {where} ORDER BY id DESC LIMIT ?", (*args, limit)
        )
        return [_job(r) for r in rows.fetchall()]

    def study_jobs(self, study_uid: str) -> list[Job]:
        rows = self._tx(
            f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE study_uid = ? ORDER BY id", (study_uid,)
        )
        return [_job(r) for r in rows.fetchall()]

    def expired(self, finished_before: float) -> list[Job]:
        marks = ", ".join("?" * len(FINISHED))
        rows = self._tx(
            f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE state IN ({marks}) AND updated_at < ? ORDER BY id",
            (*FINISHED, finished_before),
        )
        return [_job(r) for r in rows.fetchall()]

    def delete(self, job_id: int) -> None:
        self._tx("DELETE FROM jobs WHERE id = ?", (job_id,))

    def counts(self) -> dict[str, int]:
        rows = self._tx("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return dict.fromkeys(STATES, 0) | {str(s): int(n) for s, n in rows}


def _job(row: tuple) -> Job:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["result"] = json.loads(values["result"] or "{}")
    return Job(**values)
