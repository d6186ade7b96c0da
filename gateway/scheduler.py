"""The job loop: stable studies become queued jobs, workers run due jobs, failures are retried with
backoff, finished jobs are cleaned after the retention time.

Each of ``MRI_GATEWAY_WORKERS`` threads, every ``MRI_GATEWAY_POLL_S`` seconds: queue the jobs of
every study quiet for ``MRI_GATEWAY_STABLE_S`` seconds, then claim the oldest due job and run it
(:func:`gateway.pipeline.run`). A transient failure (service down or answering 503, destination
refusing, DICOMweb server unavailable) queues the job again after ``BACKOFF_S x 2^(attempt-1)``
seconds (at most ``BACKOFF_MAX_S``, at least the service's ``Retry-After``) until
``MAX_ATTEMPTS`` tries, then fails it. At start-up, jobs a stopped gateway left running are queued
again (:meth:`JobStore.resume`): their instances are in the spool and saved results are reused.
"""

from __future__ import annotations

import logging
import threading
import time

from gateway import pipeline
from gateway.jobs import FAILED, SENT, SKIPPED, Job
from gateway.logs import tag
from gateway.metrics import Metrics

logger = logging.getLogger(__name__)

CLEANUP_EVERY_S = 60.0


class Scheduler:
    def __init__(self, ctx: pipeline.Context, metrics: Metrics) -> None:
        self.ctx, self.metrics = ctx, metrics
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_cleanup = 0.0

    def start(self) -> None:
        resumed = self.ctx.store.resume()
        if resumed:
            logger.info("resuming %d job(s) left running by the last run", resumed)
        for i in range(self.ctx.settings.workers):
            thread = threading.Thread(target=self._loop, name=f"gateway-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

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
        for job_id in store.promote_stable(time.time() - settings.stable_s):
            logger.info("job %d: study stable, queued", job_id)
        if time.monotonic() - self._last_cleanup > CLEANUP_EVERY_S:
            self._last_cleanup = time.monotonic()
            self.cleanup()
        job = store.claim()
        if job is None:
            return False
        self.execute(job)
        return True

    def execute(self, job: Job) -> None:
        store = self.ctx.store
        logger.info("job %d: running (series %s, try %d)", job.id, tag(job.series_uid), job.attempts)
        try:
            pipeline.run(job, self.ctx)
        except pipeline.Skipped as exc:
            self._finish(job, SKIPPED, str(exc))
        except pipeline.Permanent as exc:
            self._finish(job, FAILED, str(exc))
        except pipeline.Transient as exc:
            self._transient(job, exc)
        except Exception as exc:
            logger.exception("job %d: unexpected error", job.id)
            self._finish(job, FAILED, f"internal error ({type(exc).__name__}); see the gateway's log")
        else:
            store.finish(job.id, SENT)
            self.metrics.finished.labels(SENT).inc()
            since = job.last_received_at or job.created_at
            self.metrics.latency.observe(max(0.0, time.time() - since))

    def _finish(self, job: Job, state: str, reason: str) -> None:
        self.ctx.store.finish(job.id, state, reason)
        self.metrics.finished.labels(state).inc()
        log = logger.warning if state == FAILED else logger.info
        log("job %d: %s: %s", job.id, state, reason)

    def _transient(self, job: Job, exc: pipeline.Transient) -> None:
        settings = self.ctx.settings
        if job.attempts >= settings.max_attempts:
            self._finish(job, FAILED, f"gave up after {job.attempts} tries: {exc}")
            return
        delay = min(settings.backoff_max_s, settings.backoff_s * 2 ** (job.attempts - 1))
        delay = max(delay, exc.retry_after or 0.0)
        self.ctx.store.requeue(
            job.id, f"try {job.attempts} of {settings.max_attempts}: {exc}", time.time() + delay
        )
        self.metrics.retries.inc()
        logger.warning("job %d: %s; trying again in %.1f s", job.id, exc, delay)

    def cleanup(self) -> int:
        """Delete finished jobs older than the retention time with their spool and results."""
        ctx = self.ctx
        expired = ctx.store.expired(time.time() - ctx.settings.retention_h * 3600)
        for job in expired:
            ctx.store.delete(job.id)
            ctx.spool.remove_results(job.id)
            if not any(other.series_uid == job.series_uid for other in ctx.store.study_jobs(job.study_uid)):
                ctx.spool.remove_series(job.study_uid, job.series_uid)
        if expired:
            logger.info("cleaned %d finished job(s) past the retention time", len(expired))
        return len(expired)
