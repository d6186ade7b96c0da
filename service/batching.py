"""Cross-request (dynamic) batching: model inputs that threads submit together run as one model call.

A :class:`Batcher` belongs to one model. Request handlers call :meth:`Batcher.submit` from their
worker thread (as they call ``ModelRunner.predict``) and block until their rows of the output are
back. When the model is idle and nothing waits, the caller's own thread makes the call at once.
Otherwise the input queues: one batcher thread takes the oldest waiting input, adds the inputs
queued behind it up to ``max_batch_size`` slices, concatenates them along axis 0, makes **one**
model call and hands every caller its own rows. While a call runs, new inputs queue and form the
next batch.

The batcher waits (at most ``max_wait_s``) for more inputs to fill a batch only under load:
when the previous call carried several inputs or left some queued. A lone caller (one request
after the other) never waits nor changes threads, so batching adds no latency at low load.
Models here are per-slice functions (no batch statistics at inference), so each caller's rows
equal an unbatched call up to float rounding.

An input larger than ``max_batch_size`` runs alone. At most ``max_queue`` inputs wait; one more
raises :class:`QueueFull`, which the app answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

#: Runs one model call: ``(N, ...)`` inputs -> ``(N, ...)`` outputs, or a dict of named ``(N, ...)`` outputs.
BatchFunction = Callable[[np.ndarray], np.ndarray | dict[str, np.ndarray]]


def _as_outputs(outputs):
    """An output array as an ndarray; a dict of named outputs as it is."""
    return outputs if isinstance(outputs, dict) else np.asarray(outputs)


def _rows(outputs, start: int, stop: int):
    """Rows ``start:stop`` of an output array, or of each array of a dict of named outputs."""
    if isinstance(outputs, dict):
        return {name: value[start:stop] for name, value in outputs.items()}
    return outputs[start:stop]


class QueueFull(Exception):
    """More inputs wait for a model than ``max_queue``: the service is overloaded (HTTP 503)."""


class BatcherClosed(RuntimeError):
    """The batcher was stopped (service shutting down)."""


@dataclass
class _Job:
    batch: np.ndarray
    future: Future = field(default_factory=Future)


class Batcher:
    """Collects inputs from many threads into model calls of up to ``max_batch_size`` slices."""

    def __init__(
        self,
        run: BatchFunction,
        *,
        name: str,
        max_batch_size: int,
        max_wait_s: float,
        max_queue: int,
    ) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_wait_s < 0:
            raise ValueError("max_batch_size and max_queue must be >= 1, max_wait_s >= 0")
        self.name = name
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._run = run
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._under_load = False  # the previous call carried several inputs or left some queued
        self._busy = False  # a model call runs (in the batcher thread or a caller's)
        self._thread = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    def submit(self, batch: np.ndarray) -> np.ndarray | dict[str, np.ndarray]:
        """Model outputs for ``batch`` (blocking); raises :class:`QueueFull` when too many wait.

        When the model is idle and nothing waits, the call runs at once in the caller's thread
        (no hand-off to the batcher thread); otherwise the input queues for the next batch.
        """
        job = _Job(np.asarray(batch))
        with self._cond:
            if self._closed:
                raise BatcherClosed(f"{self.name}: batcher stopped")
            idle = not self._busy and not self._jobs
            if idle:
                self._busy = True
            elif len(self._jobs) >= self.max_queue:
                raise QueueFull(f"{self.name}: {len(self._jobs)} requests already wait for the model")
            else:
                self._jobs.append(job)
                self._cond.notify_all()
        if not idle:
            return job.future.result()
        try:
            return _as_outputs(self._run(job.batch))
        finally:
            self._release(calls_waiting=False)

    def _release(self, calls_waiting: bool) -> None:
        """The model is free again; remember whether the last call had company (load)."""
        with self._cond:
            self._busy = False
            self._under_load = calls_waiting or bool(self._jobs)
            self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """Inputs queued now (not yet in a model call)."""
        return len(self._jobs)

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking inputs, finish the queued ones and end the batcher thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _take(self) -> list[_Job] | None:
        """The next group of jobs to run together; None once closed and drained."""
        with self._cond:
            while (not self._jobs or self._busy) and not self._closed:
                self._cond.wait()
            while self._busy:  # closing: let a caller's own call finish first
                self._cond.wait()
            if not self._jobs:
                return None
            self._busy = True
            jobs = [self._jobs.popleft()]
            size = len(jobs[0].batch)
            deadline = time.monotonic() + self.max_wait_s
            while size < self.max_batch_size:
                if self._jobs:
                    head = self._jobs[0].batch
                    if size + len(head) > self.max_batch_size or head.shape[1:] != jobs[0].batch.shape[1:]:
                        break
                    jobs.append(self._jobs.popleft())
                    size += len(jobs[-1].batch)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed or not self._under_load:
                    break
                self._cond.wait(remaining)
            return jobs

    def _loop(self) -> None:
        while (jobs := self._take()) is not None:
            try:
                self._run_jobs(jobs)
            finally:
                self._release(calls_waiting=len(jobs) > 1)

    def _run_jobs(self, jobs: list[_Job]) -> None:
        try:
            inputs = jobs[0].batch if len(jobs) == 1 else np.concatenate([j.batch for j in jobs])
            outputs = _as_outputs(self._run(inputs))
        except BaseException as exc:  # noqa: BLE001 - every caller gets the model's error
            for job in jobs:
                job.future.set_exception(exc)
            return
        start = 0
        for job in jobs:
            stop = start + len(job.batch)
            job.future.set_result(_rows(outputs, start, stop))
            start = stop
