"""Bringing jobs back: a failed job retried, failed jobs re-driven in bulk, and the jobs a stopped
gateway left running (resumed once; failed the second time the gateway stops in the same job, so
that a job that crashes the process cannot crash it forever). Part of
:class:`gateway.jobs.SqliteJobStore` (it needs its ``_tx``, ``_jobs``, ``move``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.states import FAILED, QUEUED, RUNNING

if TYPE_CHECKING:
    from gateway.jobs import Job

#: A job the gateway stopped in while running it this many times fails instead of running again.
MAX_INTERRUPTIONS = 2


class RecoveryQueries:
    def retry(self, job_id: int) -> bool:
        """``failed`` -> ``queued`` now, its tries counted afresh; False when the job is not failed."""
        return job_id in self.redrive(ids=[job_id])

    def redrive(
        self, ids: list[int] | None = None, reason_contains: str | None = None, since: float | None = None
    ) -> list[int]:
        """Every ``failed`` job (of ``ids``; whose reason contains ``reason_contains``; updated at or
        after ``since``) queued again now, its tries counted afresh; their ids."""
        now, where, args = self._clock(), ["state = ?"], [FAILED]
        if ids is not None:
            where.append(f"id IN ({', '.join('?' * len(ids))})")
            args += ids
        if reason_contains:
            where.append("instr(lower(reason), lower(?)) > 0")
            args.append(reason_contains)
        if since is not None:
            where.append("updated_at >= ?")
            args.append(since)
        rows = self._tx(
            "UPDATE jobs SET state = ?, attempts = 0, interruptions = 0, first_try_at = 0, next_try_at = ?,"
            f" updated_at = ? WHERE {' AND '.join(where)} RETURNING id",
            (QUEUED, now, now, *args),
        ).fetchall()
        return sorted(int(r[0]) for r in rows)

    def resume(self) -> tuple[list[Job], list[Job]]:
        """At start-up, the jobs a stopped gateway left ``running``: queued again, except those it
        stopped in :data:`MAX_INTERRUPTIONS` times, which fail naming the phase. ``(queued, failed)``."""
        queued, failed = [], []
        for job in self._jobs("WHERE state = ?", (RUNNING,)):
            count = job.interruptions + 1
            self._tx("UPDATE jobs SET interruptions = ? WHERE id = ?", (count, job.id))
            if count >= MAX_INTERRUPTIONS:
                self.finish(job.id, FAILED, _stopped_reason(count, job.phase))
                failed.append(job)
            else:
                self.requeue(
                    job.id, f"resumed: the gateway stopped while running it ({job.phase})", self._clock()
                )
                queued.append(job)
        return queued, failed

    def release(self, job_ids: list[int]) -> None:
        """Jobs a gateway that is stopping cleanly was running: queued again, not counted as interrupted."""
        for job_id in job_ids:
            job = self.get(job_id)
            if job is not None and job.state == RUNNING:
                self.requeue(job_id, "the gateway was stopped while running it", self._clock())


def _stopped_reason(count: int, phase: str | None) -> str:
    return (
        f"the gateway stopped {count} times while running this job (last while {phase or 'starting'}); "
        "it is not run again on its own: see the gateway's log, then retry it"
    )
