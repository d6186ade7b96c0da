"""The memory a volume needs, known from its headers before any voxel is decoded, the process-wide
budget volumes wait for, and the time budget of one volume.

Memory model (bytes; ``V`` = voxels of the spatial grid, ``b`` = bytes per stored value times the
sequences, ``n`` = slices per model call; figures from ``python -m scripts.benchmark_volume_memory``,
docs/service.md):

    need = V * (b + WORK_BYTES_PER_VOXEL[output]) + BATCH_BYTES_PER_PIXEL * n * canvas pixels
           + MODEL_BYTES_PER_INPUT_PIXEL * n * S^2 + FILE_BYTES * files + header bytes + FIXED_BYTES

``WORK_BYTES_PER_VOXEL`` covers the mask (1), the component labels of post-processing (up to 4) and
the answer; the batch term one batch of windowed slices, canvases and probability maps; the model
term what one model call of ``n`` slices of the models' input side ``S`` (the larger of the two)
allocates (measured on the bundled models: re-measure when the models change). Each model runs one
call at a time, so volumes share the model term, but each counts it (a safe over-estimate).
A request whose need is over ``MRI_MAX_VOLUME_MEMORY_BYTES`` is 413. The budget
(``MRI_VOLUME_MEMORY_BUDGET_BYTES``) is shared by all volumes of the process: a request that does
not fit waits, first come first served, at most ``MRI_MAX_VOLUME_WAITING`` of them and each at most
``MRI_VOLUME_WAIT_S``; past either it is 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from contract.volume import BATCH_PIXELS
from service.errors import Overloaded, RequestTooLarge
from service.volumes.volume import PendingVolume

#: Bytes per voxel beyond the stored values, by answer: mask, labels, answer encoding.
WORK_BYTES_PER_VOXEL = {"json": 6, "dicom-seg": 10}
#: Bytes per canvas pixel of one batch (stored and float32 values, three channels, canvases, model
#: inputs and outputs, probability maps back at slice size).
BATCH_BYTES_PER_PIXEL = 64
#: Bytes one model call allocates per input pixel of a slice (measured on the bundled models: the
#: classifier, 256 x 256 input, 152; the segmenter, 128 x 128, 480; counted at the larger side;
#: measured-with: models/classifier.keras@f83e6635942f models/segmenter.keras@616006b70791).
MODEL_BYTES_PER_INPUT_PIXEL = 160
#: Bytes per DICOM file whose header is held (pydicom objects), and per request.
FILE_BYTES = 64 * 1024
FIXED_BYTES = 64 * 1024 * 1024


def volume_memory(pending: PendingVolume, output: str, batch_size: int, model_side: int) -> int:
    """Bytes the request needs to decode, infer and answer ``pending`` (module docstring), with at
    most ``batch_size`` slices per model call (``MRI_VOLUME_BATCH_SIZE``) of models whose input
    side is at most ``model_side``."""
    side = max(pending.slice_shape)
    per_call = max(1, min(batch_size, BATCH_PIXELS // (side * side), max(pending.shape)))
    stored = pending.voxels * pending.channels * pending.itemsize
    return int(
        stored
        + pending.voxels * WORK_BYTES_PER_VOXEL[output]
        + BATCH_BYTES_PER_PIXEL * per_call * side * side
        + MODEL_BYTES_PER_INPUT_PIXEL * per_call * model_side * model_side
        + FILE_BYTES * pending.files
        + pending.header_bytes
        + FIXED_BYTES
    )


def describe_bytes(size: int) -> str:
    """``1.5 GiB``, ``300 MiB``: sizes in client messages."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"


@dataclass
class Lease:
    """Memory held by one request. Its holder is the code inside :meth:`held` until it hands the
    lease to an owner (:meth:`hand_to`, the answer), which releases it when done; :meth:`release`
    is idempotent."""

    budget: MemoryBudget
    amount: int
    released: bool = field(default=False, repr=False)
    handed: bool = field(default=False, repr=False)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.budget._give_back(self.amount)

    @contextlib.contextmanager
    def held(self) -> Iterator[Lease]:
        """Hold the lease in a ``with`` block: released on leaving it (an error included) unless it
        was handed to an owner inside."""
        try:
            yield self
        finally:
            if not self.handed:
                self.release()

    def hand_to(self, owner: object) -> None:
        """``owner`` (e.g. the answer) now holds the lease and calls :meth:`release` when done; should
        it never do so, the lease is released when ``owner`` is garbage-collected."""
        self.handed = True
        weakref.finalize(owner, self.release)


@dataclass(eq=False)
class _Waiter:
    amount: int
    future: asyncio.Future[None]
    granted: bool = False


class MemoryBudget:
    """Bytes the volumes of one process may need together, handed out first come first served.

    Leases may be given back from worker threads (the answer's body is produced in one), so the
    state is under a lock and waiters are woken on their event loop."""

    def __init__(self, total: int, per_request: int, max_waiting: int, wait_s: float) -> None:
        self.total = total
        self.per_request = per_request
        self.max_waiting = max_waiting
        self.wait_s = wait_s
        self.used = 0
        self.peak = 0  # most bytes ever leased at once
        self._waiters: deque[_Waiter] = deque()
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, amount: int, what: str) -> Lease:
        """A lease of ``amount`` bytes: at once, after waiting, or 413 (over the per-request limit)
        / 503 (queue full, or waited ``wait_s``). ``what`` describes the volume in the 413."""
        limit = min(self.per_request, self.total)
        if amount > limit:
            raise RequestTooLarge(
                f"{what} needs about {describe_bytes(amount)} of memory to process; the limit is "
                f"{describe_bytes(limit)} per volume: send fewer or smaller slices"
            )
        with self._lock:
            if not self._waiters and self.used + amount <= self.total:
                self.used += amount
                self.peak = max(self.peak, self.used)
                return Lease(self, amount)
            if len(self._waiters) >= self.max_waiting:
                raise Overloaded(
                    f"the service is busy with other volumes ({len(self._waiters)} waiting for memory); "
                    "retry later"
                )
            waiter = _Waiter(amount, asyncio.get_running_loop().create_future())
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter.future, self.wait_s)
        except BaseException as exc:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                if waiter.granted:  # granted as the wait ended: give it back
                    self.used -= amount
                self._wake()
            if isinstance(exc, TimeoutError):
                raise Overloaded(
                    f"the service is busy with other volumes (waited {self.wait_s:g} s for memory); retry later"
                ) from None
            raise
        return Lease(self, amount)

    def _give_back(self, amount: int) -> None:
        with self._lock:
            self.used -= amount
            self._wake()

    def _wake(self) -> None:
        """Grant the waiters at the head of the queue while they fit (the lock is held)."""
        while self._waiters:
            waiter = self._waiters[0]
            if waiter.future.done():
                self._waiters.popleft()
                continue
            if self.used + waiter.amount > self.total:
                return
            self._waiters.popleft()
            self.used += waiter.amount
            self.peak = max(self.peak, self.used)
            waiter.granted = True
            waiter.future.get_loop().call_soon_threadsafe(_grant, waiter.future)


def _grant(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Deadline:
    """The time budget of one volume (``MRI_VOLUME_TIMEOUT_S``): :meth:`check` raises 503 once spent
    (``clock``: seconds, monotonic)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def extend(self, seconds: float) -> None:
        """Give back time spent not working (waiting for the memory budget)."""
        self._end += seconds

    def check(self) -> None:
        if self._clock() > self._end:
            raise Overloaded(
                f"the volume took longer than its time budget of {self.seconds:g} s to process; "
                "send fewer slices, or retry when the service is less busy"
            )
