"""Which runtime, threads and precision serve: measured at start-up among what the settings leave open.

A **candidate** is a runtime (``MRI_RUNTIME``: one, or every installed one for ``auto``) with a
number of intra-op threads (``MRI_INTRA_OP_THREADS``: that number, or unset: 1, 2, 4, ... up to
the cores one model call may use, :func:`thread_counts`) and an inference precision (float32, plus
the reduced ones the runtime offers on this machine, such as OpenVINO's bf16 on CPUs with AMX).
Keras is one candidate (TensorFlow's thread pool is process-wide: it gets the most threads a call
may use, or the setting).

Each candidate loads the models with the caller's ``open_models`` (which checks every ONNX export
against the model card's probe: a candidate whose answers are off, e.g. in a reduced precision,
is refused there and never serves) and, when more than one is left, each is timed on the probe
input by the caller's ``time_call`` (one slice through every model file, as served: test-time
augmentation included): :data:`WARM_UP_CALLS` calls, then :data:`TIMED_ROUNDS` rounds of one call
per candidate, interleaved so that background load falls on all alike. The lowest median serves;
the others are dropped.

Cores per call: the models folder's files each run one call at a time (a lock per file), so at most
``files`` calls run at once; a call gets at most ``cores // files`` threads (:mod:`service.cores`:
affinity and cgroup quota), and under load the model calls' threads never exceed the cores.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from service.devices import Device, check_devices
from service.runtimes import AUTO, RUNTIMES, Runtime, RuntimeUnavailable, get_runtime

logger = logging.getLogger(__name__)

#: Untimed calls per candidate before the timed ones (allocations, first-call compilation).
WARM_UP_CALLS = 1
#: Timed calls per candidate, one per round, rounds interleaved; the median counts.
TIMED_ROUNDS = 5

Models = TypeVar("Models")


class NoRuntime(RuntimeError):
    """No candidate could serve the models (not installed, no export, not at parity, no GPU)."""


@dataclass(frozen=True)
class Candidate:
    """One way to serve: runtime, intra-op threads per call, precision hint (None: float32)."""

    runtime: str
    threads: int
    precision: str | None = None

    @property
    def label(self) -> str:
        """``onnxruntime:2``, ``openvino:2:bf16``: the benchmark's ``NAME:THREADS`` notation."""
        return f"{self.runtime}:{self.threads}" + (f":{self.precision}" if self.precision else "")


@dataclass(frozen=True)
class Trial:
    """A candidate and what came of it: ``ms``, the median time of one served call on one probe
    slice (every model file, TTA included; None when not timed), or ``refused``, why it cannot serve."""

    candidate: Candidate
    ms: float | None = None
    refused: str | None = None


@dataclass(frozen=True)
class Selection(Generic[Models]):
    """The candidate that serves, its runtime and loaded models, and the report.

    ``measured``: whether candidates were timed (False when the settings leave one); ``cores``: the
    cores the process may use; ``cores_per_call``: the most threads one model call may take;
    ``seconds``: what loading and timing every candidate took.
    """

    chosen: Candidate
    runtime: Runtime = field(repr=False)
    models: Models = field(repr=False)
    devices: list[Device]
    measured: bool
    cores: int
    cores_per_call: int
    trials: tuple[Trial, ...]
    seconds: float

    def summary(self) -> str:
        """One line for the start-up log: the choice and every candidate's figure or refusal."""
        figures = ", ".join(
            f"{t.candidate.label} {t.ms:.1f} ms"
            if t.ms is not None
            else f"{t.candidate.label} {t.refused or 'not timed'}"
            for t in self.trials
        )
        how = "fastest measured" if self.measured else "the only candidate"
        return (
            f"runtime {self.chosen.label} ({how}; {self.cores} cores, at most {self.cores_per_call} threads "
            f"per call; {self.seconds:.1f} s): {figures}"
        )


def thread_counts(cores_per_call: int) -> list[int]:
    """Thread counts worth timing: 1, 2, 4, ... below ``cores_per_call``, and ``cores_per_call``."""
    counts = {cores_per_call}
    n = 1
    while n < cores_per_call:
        counts.add(n)
        n *= 2
    return sorted(counts)


def select_runtime(
    runtime_setting: str,
    threads_setting: int | None,
    cores: int,
    concurrent_calls: int,
    open_models: Callable[[Runtime], Models],
    time_call: Callable[[Models], float],
    require_gpu: bool = False,
    pinned: Candidate | None = None,
) -> Selection[Models]:
    """Load every candidate the settings leave open, time them when several, keep the fastest.

    ``runtime_setting``: a runtime name or ``auto``; ``threads_setting``: threads per call, or None
    to measure; ``concurrent_calls``: model calls that may run at once (the model files).
    ``open_models(runtime)`` loads and checks the models (raising when they cannot serve);
    ``time_call(models)`` returns the seconds of one served call. Raises the first candidate's error
    when one runtime was named and none of its candidates loaded, :class:`NoRuntime` under ``auto``.
    ``pinned``: load that candidate alone, whatever the settings (tools and tests: one precision).
    """
    start = time.perf_counter()
    per_call = max(1, cores // max(1, concurrent_calls))
    if pinned is not None:
        runtime_setting, threads_setting = pinned.runtime, pinned.threads
    names = RUNTIMES if runtime_setting == AUTO else (runtime_setting,)
    trials: list[Trial] = []
    loaded: dict[Candidate, tuple[Runtime, Models, list[Device]]] = {}
    errors: list[BaseException] = []
    for name in names:
        counts = (
            [threads_setting]
            if threads_setting is not None
            else [per_call]
            if name == "keras"
            else thread_counts(per_call)
        )
        precisions = None if pinned is None else [pinned.precision]
        for candidate, outcome in _load_runtime(name, counts, precisions, open_models, require_gpu):
            if isinstance(outcome, BaseException):
                errors.append(outcome)
                trials.append(Trial(candidate, refused=_reason(outcome)))
                logger.info("%s refused: %s", candidate.label, _reason(outcome))
            else:
                loaded[candidate] = outcome
    if not loaded:
        if runtime_setting != AUTO and errors:
            raise errors[0]
        raise NoRuntime(
            "no runtime can serve these models: "
            + "; ".join(f"{t.candidate.label}: {t.refused}" for t in trials)
        )
    medians = _time(loaded, time_call) if len(loaded) > 1 else {}
    chosen = min(loaded, key=lambda c: medians.get(c, 0.0))
    trials = [Trial(c, ms=medians.get(c)) for c in loaded] + trials
    runtime, models, devices = loaded.pop(chosen)
    loaded.clear()  # the other candidates' models are freed
    selection = Selection(
        chosen=chosen,
        runtime=runtime,
        models=models,
        devices=devices,
        measured=bool(medians),
        cores=cores,
        cores_per_call=per_call,
        trials=tuple(trials),
        seconds=time.perf_counter() - start,
    )
    logger.info(selection.summary())
    return selection


def _load_runtime(
    name: str,
    counts: list[int],
    precisions: list[str | None] | None,
    open_models: Callable[[Runtime], Models],
    require_gpu: bool,
):
    """``(candidate, (runtime, models, devices) or the exception)`` for each thread count and precision
    (``precisions``, None: float32 and every reduced one the runtime offers) of runtime ``name``."""
    try:
        first = get_runtime(name, counts[0])
        devices = check_devices(name, first.devices(), require_gpu)
    except Exception as exc:  # noqa: BLE001 - not installed, no GPU: every candidate of it is refused
        yield Candidate(name, counts[0]), exc
        return
    for threads in counts:
        for precision in (None, *first.reduced_precisions()) if precisions is None else precisions:
            candidate = Candidate(name, threads, precision)
            try:
                runtime = (
                    first
                    if (threads, precision) == (counts[0], None)
                    else get_runtime(name, threads, precision)
                )
                yield candidate, (runtime, open_models(runtime), devices)
            except Exception as exc:  # noqa: BLE001 - reported and refused; raised when nothing else can serve
                yield candidate, exc


def _time(
    loaded: dict[Candidate, tuple[Runtime, Models, list[Device]]], time_call: Callable[[Models], float]
) -> dict:
    """Median milliseconds of one served call per candidate (warm-up, then interleaved rounds)."""
    for _, models, _ in loaded.values():
        for _ in range(WARM_UP_CALLS):
            time_call(models)
    samples: dict[Candidate, list[float]] = {c: [] for c in loaded}
    for _ in range(TIMED_ROUNDS):
        for candidate, (_, models, _) in loaded.items():
            samples[candidate].append(1000.0 * time_call(models))
    return {c: statistics.median(s) for c, s in samples.items()}


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, RuntimeUnavailable) else f"{type(exc).__name__}: {text}"
