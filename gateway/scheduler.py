"""The job loop: stable studies become queued jobs, workers run due jobs, failures are retried with
backoff within a horizon, incomplete series wait, finished studies give their instances back,
finished jobs are cleaned after the retention time.

Each of ``MRI_GATEWAY_WORKERS`` threads, every ``MRI_GATEWAY_POLL_S`` seconds: queue the jobs of
every study quiet for ``MRI_GATEWAY_STABLE_S`` seconds, then claim the oldest due job and run it
(:func:`gateway.pipeline.run`). A transient failure (the service unreachable or answering what the
client's retry policy retries, :mod:`mri_client.retry`; a destination refusing; a DICOMweb server
unavailable) queues the job again after ``BACKOFF_S x 2^(attempt-1)`` seconds (at most
``BACKOFF_MAX_S``, at least the service's ``Retry-After``: that policy's delay) until
``RETRY_HORIZON_H`` hours have passed since its first try, then fails it. A series with instances
missing waits for them until ``INCOMPLETE_WAIT_S`` after its last instance. At start-up, jobs a
stopped gateway left running are queued again, or failed when it stopped in them twice
(:meth:`gateway.jobs.SqliteJobStore.resume`); a clean stop queues its running jobs again without
counting. When no job of a study is waiting or running any more, its received instances are deleted
(those of failed jobs are kept with the job, for a retry).
"""

from __future__ import annotations

import logging
import threading
import time

from mri_client.retry import delay_s

from gateway import pipeline
from gateway.audit import Audit
from gateway.completeness import Incomplete
from gateway.jobs import Job
from gateway.logs import tag
from gateway.metrics import Metrics
from gateway.states import FAILED, SENT, SKIPPED

logger = logging.getLogger(__name__)

CLEANUP_EVERY_S = 60.0


class Scheduler:
    def __init__(self, ctx: pipeline.Context, metrics: Metrics, audit: Audit, clock=time.time) -> None:
        self.ctx, self.metrics, self.audit, self.clock = ctx, metrics, audit, clock
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: set[int] = set()
        self._last_cleanup = float("-inf")

    def start(self) -> None:
        self.resume()
        for i in range(self.ctx.settings.workers):
            thread = threading.Thread(target=self._loop, name=f"gateway-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def resume(self) -> None:
        queued, failed = self.ctx.store.resume()
        if queued:
            logger.info("resuming %d job(s) left running by the last run", len(queued))
        for job in failed:
            self.metrics.finished.labels(FAILED).inc()
            logger.error("job %d: failed: the gateway stopped %d times while running it (%s)",
                         job.id, job.interruptions + 1, job.phase)  # fmt: skip

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers; the jobs they were still running are queued again (not counted)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self.ctx.store.release(sorted(self._running))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.tick()
            except Exception:  # the loop must survive anything (e.g. a full disk); logged, tried again
                logger.exception("scheduler error")
                worked = False
            if not worked:
                self._stop.wait(self.ctx.settings.poll_s)

    def tick(self) -> bool:
        """One round: promote, clean, run one due job; True when a job ran."""
        settings, store = self.ctx.settings, self.ctx.store
        for job_id in store.promote_stable(self.clock() - settings.stable_s):
            logger.info("job %d: study stable, queued", job_id)
        if self.clock() - self._last_cleanup > CLEANUP_EVERY_S:
            self._last_cleanup = self.clock()
            self.cleanup()
        job = store.claim()
        if job is None:
            return False
        self.execute(job)
        return True

    def execute(self, job: Job) -> None:
        logger.info("job %d: running (series %s, try %d)", job.id, tag(job.series_uid), job.attempts)
        self._running.add(job.id)
        try:
            pipeline.run(job, self.ctx)
        except pipeline.Skipped as exc:
            self._finish(job, SKIPPED, str(exc))
        except pipeline.Permanent as exc:
            self._finish(job, FAILED, str(exc))
        except Incomplete as exc:
            self._incomplete(job, exc)
        except pipeline.Transient as exc:
            self._transient(job, exc)
        except Exception as exc:
            logger.exception("job %d: unexpected error", job.id)
            self._finish(job, FAILED, f"internal error ({type(exc).__name__}); see the gateway's log")
        else:
            self._sent(job)
        finally:
            self._running.discard(job.id)
            self.release_study(job.study_uid)

    def _sent(self, job: Job) -> None:
        store = self.ctx.store
        store.finish(job.id, SENT)
        superseded = store.supersede(job)
        self.metrics.finished.labels(SENT).inc()
        self.metrics.latency.observe(max(0.0, self.clock() - (job.last_received_at or job.created_at)))
        result = store.get(job.id).result
        sent = [result.get("seg_sop_instance_uid"), result.get("sr_sop_instance_uid")]
        self.audit.record(
            "result", job=job.id, destination=job.destination, study=tag(job.study_uid),
            series=tag(job.series_uid), instances=[tag(uid) for uid in sent if uid],
            secondary_capture=result.get("secondary_capture_instances", 0), supersedes=superseded,
        )  # fmt: skip

    def _finish(self, job: Job, state: str, reason: str) -> None:
        self.ctx.store.finish(job.id, state, reason)
        self.metrics.finished.labels(state).inc()
        log = logger.warning if state == FAILED else logger.info
        log("job %d: %s: %s", job.id, state, reason)

    def _transient(self, job: Job, exc: pipeline.Transient) -> None:
        settings = self.ctx.settings
        elapsed = self.clock() - job.first_try_at
        if elapsed >= settings.retry_horizon_h * 3600:
            horizon = f"{settings.retry_horizon_h:g} h (MRI_GATEWAY_RETRY_HORIZON_H)"
            self._finish(job, FAILED, f"gave up after {job.attempts} tries over {horizon}: {exc}")
            return
        delay = delay_s(job.attempts - 1, settings.backoff_s, settings.backoff_max_s, exc.retry_after)
        self.ctx.store.requeue(job.id, f"try {job.attempts}: {exc}", self.clock() + delay)
        self.metrics.retries.inc()
        logger.warning("job %d: %s; trying again in %.1f s", job.id, exc, delay)

    def _incomplete(self, job: Job, exc: Incomplete) -> None:
        settings = self.ctx.settings
        since = job.last_received_at or job.first_try_at
        left = since + settings.incomplete_wait_s - self.clock()
        if left <= 0:
            wait = f"{settings.incomplete_wait_s:g} s (MRI_GATEWAY_INCOMPLETE_WAIT_S)"
            self._finish(job, FAILED, f"incomplete series: {exc}; nothing more arrived within {wait}")
            return
        delay = min(left, delay_s(job.attempts - 1, settings.backoff_s, settings.backoff_max_s))
        self.ctx.store.requeue(
            job.id, f"incomplete: {exc}; waiting for the missing instances", self.clock() + delay
        )
        logger.warning("job %d: incomplete: %s; waiting up to %.0f s more", job.id, exc, left)

    def release_study(self, study_uid: str) -> None:
        """Once no job of the study waits or runs: delete its received instances, except the series
        whose latest job failed (kept for a retry, until that job's retention)."""
        ctx = self.ctx
        if ctx.store.study_unfinished(study_uid):
            return
        latest = {job.series_uid: job for job in ctx.store.study_jobs(study_uid)}
        for series_uid, job in latest.items():
            if job.state != FAILED:
                ctx.spool.remove_series(study_uid, series_uid)

    def cleanup(self) -> int:
        """Delete finished jobs older than the retention time with their spool and results."""
        ctx = self.ctx
        expired = ctx.store.expired(self.clock() - ctx.settings.retention_h * 3600)
        for job in expired:
            ctx.store.delete(job.id)
            ctx.spool.remove_results(job.id)
            if not any(other.series_uid == job.series_uid for other in ctx.store.study_jobs(job.study_uid)):
                ctx.spool.remove_series(job.study_uid, job.series_uid)
        if expired:
            logger.info("cleaned %d finished job(s) past the retention time", len(expired))
        return len(expired)
