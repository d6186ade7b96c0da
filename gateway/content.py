"""Once per series content: the idempotency key of an analysis, and the job store's queries on it.

The **content key** of an analysis is the SHA-256 of what it reads: the analysed series' study and
series UIDs and the sorted digests of its SOP Instance UIDs, the same for each companion series
(pre- and post-contrast, by role), and the input sequences. The same instances sent or pulled again
give the same key: that job ends ``skipped`` ("already analysed by job N"), no second SEG and SR.
Instances that are only part of an analysed series (a part sent again) count as the same. A changed
series (an instance added or replaced, a companion that was not there) gives a new key: it is
analysed, and once its results are sent the earlier job becomes ``superseded``.

The job store keeps each job's instances as digests (``instances`` table): a repeated SOP Instance
UID is counted once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from gateway.states import RUNNING, SENT, SUPERSEDED


def digest(uid: str) -> str:
    """The stored form of a UID (the UID itself is not needed to compare instances)."""
    return hashlib.sha256(str(uid).encode()).hexdigest()[:32]


def content_key(
    study_uid: str,
    series_uid: str,
    sop_uids: Iterable[str],
    companions: Mapping[str, tuple[str, Iterable[str]]],
    sequences: str,
) -> str:
    """The key of analysing ``series_uid`` (its instances ``sop_uids``) with ``companions``
    (``role -> (series UID, its instances)``) as ``sequences``."""
    hasher = hashlib.sha256()
    parts = [
        ("analysed", series_uid, sop_uids),
        *((role, s, i) for role, (s, i) in sorted(companions.items())),
    ]
    hasher.update(f"{study_uid}|{sequences}".encode())
    for role, series, sops in parts:
        hasher.update(f"|{role}:{series}:".encode())
        hasher.update(",".join(sorted(digest(uid) for uid in sops)).encode())
    return hasher.hexdigest()


class ContentQueries:
    """Idempotency queries of :class:`gateway.jobs.SqliteJobStore` (needs its ``_tx``/``_jobs``)."""

    def set_instances(self, job_id: int, sop_uids: Iterable[str]) -> int:
        """Record the instances of a pulled series in its job; how many it has."""
        with self._lock:
            self._db.executemany(
                "INSERT OR IGNORE INTO instances (job_id, sop) VALUES (?, ?)",
                [(job_id, digest(uid)) for uid in sop_uids],
            )
            count = self._db.execute("SELECT COUNT(*) FROM instances WHERE job_id = ?", (job_id,)).fetchone()[
                0
            ]
            self._db.execute("UPDATE jobs SET instances = ? WHERE id = ?", (count, job_id))
        return int(count)

    def same_content(self, job) -> object | None:
        """Another job that analysed (``sent``, ``superseded``) or is analysing (``running``) the same
        content: the same key, or a series of which this job's instances are a part."""
        found = self._jobs(
            "WHERE content_key = ? AND id != ? AND state IN (?, ?, ?) ORDER BY id DESC LIMIT 1",
            (job.content_key, job.id, SENT, RUNNING, SUPERSEDED),
        )
        if found:
            return found[0]
        covering = self._tx(
            "SELECT j.id FROM jobs j WHERE j.series_uid = ? AND j.id != ? AND j.state = ? AND NOT EXISTS"
            " (SELECT 1 FROM instances mine WHERE mine.job_id = ? AND mine.sop NOT IN"
            " (SELECT sop FROM instances theirs WHERE theirs.job_id = j.id)) ORDER BY j.id DESC LIMIT 1",
            (job.series_uid, job.id, SENT, job.id),
        ).fetchone()
        return self.get(int(covering[0])) if covering and job.instances else None

    def supersede(self, job) -> list[int]:
        """After ``job`` was sent: the earlier sent jobs of its series become ``superseded``; their ids."""
        earlier = self._jobs(
            "WHERE series_uid = ? AND study_uid = ? AND id < ? AND state = ?",
            (job.series_uid, job.study_uid, job.id, SENT),
        )
        for other in earlier:
            self.move(other.id, SUPERSEDED, reason=f"superseded by job {job.id}: the series changed")
        if earlier:
            self.update(job.id, supersedes=earlier[-1].id)
        return [other.id for other in earlier]

    def mark_transfer(self, job_ids: Iterable[int], aborted: bool) -> None:
        """Whether the association that last brought instances of these jobs was aborted."""
        for job_id in job_ids:
            self._tx("UPDATE jobs SET transfer_aborted = ? WHERE id = ?", (int(aborted), job_id))

    def study_unfinished(self, study_uid: str) -> bool:
        """True while a job of the study is receiving, queued or running."""
        row = self._tx(
            "SELECT 1 FROM jobs WHERE study_uid = ? AND state IN ('receiving', 'queued', 'running') LIMIT 1",
            (study_uid,),
        ).fetchone()
        return row is not None
