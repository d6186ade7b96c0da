"""Loading, warm-up and thread-safe batch inference of the models of a models folder.

The folder's layout (:mod:`contract.layout`, read from the model card) says which file answers each
role (classifier, segmenter) on each input path (three sequences, FLAIR only): one file whose one
pass gives both answers (``joint.keras``), with an optional FLAIR-only file. Each file is loaded
once, as a :class:`FileRunner`; each (role, path) is a :class:`ModelRunner` reading one output of a
file runner.

The runtime (:mod:`service.runtimes`) runs the ``.keras`` files for Keras, the ONNX exports the
model card names for them (``exports``, :mod:`contract.exports`) for ONNX Runtime and OpenVINO. An
export is served only when it is the file the card names (SHA-256), was made from the ``.keras``
file beside it (when that is there) and reproduces the Keras model's recorded answers to the probe
input within the card's tolerance; otherwise it is refused with :class:`ExportMismatch`, saying
why. Which runtime, threads and precision serve is measured at start-up among what ``MRI_RUNTIME``
and ``MRI_INTRA_OP_THREADS`` leave open (:mod:`service.runtimes.selection`).

Every call of a file runs the served test-time augmentation (``MRI_TTA``, else the card's:
:mod:`contract.tta`). Files run under a lock each; with ``MRI_BATCHING`` each file has a
:class:`service.batching.Batcher` that joins the inputs of requests arriving together (for either
role of a joint file) into one call; off, each request is its own call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from contract.exports import export_entry, probe_input, probe_mismatch, sha256
from contract.layout import DEFAULT_GATE, PATHS, ROLES, gate_of, layout_files, role_spec, volume_gate_of
from contract.spec import DEFAULT_INPUT_SIZE, SEQUENCES_FLAIR_ONLY, file_version, read_card, to_model_input
from contract.tta import NO_TTA, card_tta, with_tta
from service.batching import Batcher
from service.cores import usable_cores
from service.devices import Device
from service.runtimes import LoadedModel, Runtime
from service.runtimes.selection import Candidate, Selection, select_runtime
from service.settings import TTA_FROM_CARD, Settings
from service.timing import add_model_time

logger = logging.getLogger(__name__)

#: Called after each inference with (role, batch size, seconds).
InferenceObserver = Callable[[str, int, float], None]


class ExportMismatch(ValueError):
    """An exported model file cannot be served: missing from the card, changed, stale or not at parity."""


@dataclass
class FileRunner:
    """One loaded model file: every named output of a batch, one call at a time.

    ``file``: the ``.keras`` name the card knows it by; ``path``: the file the runtime loaded (the
    ``.keras`` or its export); ``version``: :func:`contract.file_version` of the ``.keras`` file
    (the export's source, whatever the runtime); ``input_size``: S of the (S, S, 3) input; ``tta``:
    the test-time augmentation every call runs (:data:`contract.tta.TTAS`).
    """

    file: str
    path: Path
    version: str
    input_size: int
    model: LoadedModel = field(repr=False)
    tta: str = NO_TTA
    observer: InferenceObserver | None = field(default=None, repr=False)
    batcher: Batcher | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._call = with_tta(self.model.run, self.tta)

    @property
    def label(self) -> str:
        """The file's name without suffix: its label in logs and metrics (``joint``, ``classifier``...)."""
        return Path(self.file).stem

    def prepare(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Stack ``(H, W, 3)`` uint8 slices into the model's float32 ``(N, S, S, 3)`` input."""
        return np.stack([to_model_input(image, self.input_size) for image in images])

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of the model for one input batch (blocking: call it from a worker thread).

        Through the batcher when there is one (may raise :class:`service.batching.QueueFull`). The
        time it takes, queue included, counts as the request's model time (:mod:`service.timing`).
        """
        start = time.perf_counter()
        try:
            return self.batcher.submit(batch) if self.batcher is not None else self.call_model(batch)
        finally:
            add_model_time(time.perf_counter() - start)

    def call_model(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """One model call on ``batch`` (with the served test-time augmentation), now, under the file's lock."""
        start = time.perf_counter()
        with self._lock:
            outputs = self._call(batch)
        if self.observer is not None:
            self.observer(self.label, len(batch), time.perf_counter() - start)
        return outputs

    def warm_up(self) -> None:
        """Run batch sizes 1 and 2 once (traced functions, allocated buffers) before the first request."""
        for n in (1, 2):
            with self._lock:
                self._call(np.zeros((n, self.input_size, self.input_size, 3), np.float32))


@dataclass
class ModelRunner:
    """One role on one input path, and what the service reports about it.

    ``role``: "classifier" or "segmenter"; ``input_path``: "three" or "flair" (:data:`contract.layout.PATHS`);
    ``name``: from the model card, else the role; ``threshold``: cut-off in use (setting, else
    card, else :data:`contract.spec.DEFAULT_THRESHOLD`); ``postprocess``: the segmenter's 2-D mask post-processing;
    ``card``: the role's entry of ``model_card.json`` ({} without one); ``output``: the output of the
    file it reads; ``runner``: the file.
    """

    role: str
    input_path: str
    name: str
    threshold: float
    card: dict[str, Any]
    output: str
    runner: FileRunner = field(repr=False)
    postprocess: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.runner.version

    @property
    def input_size(self) -> int:
        return self.runner.input_size

    @property
    def path(self) -> Path:
        """The file the runtime loaded (the ``.keras`` file or its export)."""
        return self.runner.path

    def prepare(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return self.runner.prepare(images)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """The role's output for one input batch (blocking; through the file's batcher when there is one)."""
        return self.read(self.runner.run(batch))

    def call_model(self, batch: np.ndarray) -> np.ndarray:
        """The role's output of one direct call of its file (no batcher)."""
        return self.read(self.runner.call_model(batch))

    @property
    def batcher(self) -> Batcher | None:
        """The file's batcher (shared by the roles of a joint file)."""
        return self.runner.batcher

    def read(self, outputs: dict[str, np.ndarray]) -> np.ndarray:
        """The role's output among a call's outputs."""
        return np.asarray(outputs[self.output])


@dataclass(frozen=True)
class LoadedModels:
    """Every file of the folder, warmed up, its role runners per input path, the whole model card, the
    gates of ``/analyze`` and ``/volume`` (:data:`contract.layout.GATES`, :func:`contract.layout.gate_of`
    and :func:`~contract.layout.volume_gate_of`), the runtime and its devices, how they were chosen
    (``selection``), and the test-time augmentation every call runs (``tta``; ``tta_source``: "card" or
    "setting")."""

    roles: dict[tuple[str, str], ModelRunner]
    files: dict[str, FileRunner]
    card: dict[str, Any]
    gate: str = DEFAULT_GATE
    volume_gate: str = DEFAULT_GATE
    devices: list[Device] = field(default_factory=list)
    runtime: str = ""
    platform: str = ""
    selection: Selection | None = field(default=None, repr=False)
    tta: str = NO_TTA
    tta_source: str = TTA_FROM_CARD

    @property
    def classifier(self) -> ModelRunner:
        """The classifier on three-sequence input: the one the Open Inference Protocol serves."""
        return self.roles[("classifier", "three")]

    @property
    def segmenter(self) -> ModelRunner:
        return self.roles[("segmenter", "three")]

    def runner(self, role: str, sequences: str) -> ModelRunner:
        """The runner of ``role`` for slices of ``sequences`` (an answer's ``sequences`` field)."""
        return self.roles[(role, path_of(sequences))]

    def runners(self) -> tuple[ModelRunner, ModelRunner]:
        return self.classifier, self.segmenter

    def close(self) -> None:
        """Stop the batchers (queued inputs are still answered)."""
        for runner in self.files.values():
            if runner.batcher is not None:
                runner.batcher.close()
                runner.batcher = None


def path_of(sequences: str) -> str:
    """The input path (:data:`contract.layout.PATHS`) of an answer's ``sequences``."""
    return "flair" if sequences == SEQUENCES_FLAIR_ONLY else "three"


def load_models(
    settings: Settings, observer: InferenceObserver | None = None, candidate: Candidate | None = None
) -> LoadedModels:
    """Load, check and warm up every model file of ``settings.models_dir``'s layout.

    The runtime, threads and precision are ``settings.runtime`` and ``settings.intra_op_threads``,
    or the fastest measured where those leave a choice (:func:`service.runtimes.selection.select_runtime`;
    with ``MRI_REQUIRE_GPU`` a runtime without a GPU is refused); ``candidate`` pins all three (tools,
    tests). With ``MRI_BATCHING`` each file gets a started :class:`Batcher`.
    """
    models_dir = Path(settings.models_dir)
    card = read_card(models_dir)
    files = layout_files(card)
    tta = card_tta(card) if settings.tta == TTA_FROM_CARD else settings.tta

    def open_models(runtime: Runtime) -> dict[str, OpenedFile]:
        for filename in files:  # a missing model fails before any is loaded
            model_file(models_dir, filename, card, runtime.model_format)
        return {f: open_file(models_dir, f, card, runtime, settings.require_gpu) for f in files}

    selection = select_runtime(
        settings.runtime,
        settings.intra_op_threads,
        usable_cores(),
        len(files),
        open_models,
        lambda opened: served_call_seconds(opened.values(), tta),
        settings.require_gpu,
        pinned=candidate,
    )
    runners = {
        f: FileRunner(file=f, path=o.path, version=o.version, input_size=o.input_size, model=o.model, tta=tta)
        for f, o in selection.models.items()
    }
    overrides = {"classifier": settings.classifier_threshold, "segmenter": settings.segmenter_threshold}
    roles = {
        (role, path): role_runner(card, role, path, runners, overrides[role])
        for role in ROLES
        for path in PATHS
    }
    for runner in runners.values():
        runner.warm_up()
        runner.observer = observer
        if settings.batching:
            runner.batcher = Batcher(
                runner.call_model,
                name=runner.label,
                max_batch_size=settings.max_batch_size,
                max_wait_s=settings.max_batch_wait_ms / 1000.0,
                max_queue=settings.max_queue,
            )
    for role in roles.values():
        logger.info(
            "%s (%s input): %s, output %s, threshold %.3f",
            role.role,
            role.input_path,
            role.runner.file,
            role.output,
            role.threshold,
        )
    logger.info(
        "test-time augmentation: %s (%s)", tta, "model card" if settings.tta == TTA_FROM_CARD else "MRI_TTA"
    )
    return LoadedModels(
        roles=roles,
        files=runners,
        card=card,
        gate=gate_of(card, settings.gate),
        volume_gate=volume_gate_of(card, settings.gate),
        devices=selection.devices,
        runtime=selection.runtime.name,
        platform=selection.runtime.platform,
        selection=selection,
        tta=tta,
        tta_source="card" if settings.tta == TTA_FROM_CARD else "setting",
    )


#: Which image of :func:`contract.exports.probe_input` start-up timing runs (the lesion-like disc).
TIMING_SLICE = 2


def served_call_seconds(opened: Iterable[OpenedFile], tta: str) -> float:
    """Seconds of one served call of each file (test-time augmentation ``tta`` included) on one
    probe slice: what :func:`service.runtimes.selection.select_runtime` compares."""
    total = 0.0
    for f in opened:
        call = with_tta(f.model.run, tta)
        batch = probe_input(f.input_size)[TIMING_SLICE : TIMING_SLICE + 1]
        start = time.perf_counter()
        call(batch)
        total += time.perf_counter() - start
    return total


def model_file(
    models_dir: Path, filename: str, card: dict[str, Any], model_format: str
) -> tuple[Path, str, dict[str, Any] | None]:
    """The file a runtime of ``model_format`` loads for the ``.keras`` file ``filename``.

    Returns (path, served version, export entry or None). For ONNX: the card's export entry must
    exist, its file must have the recorded SHA-256 and, when the ``.keras`` file is there, have been
    exported from it (:class:`ExportMismatch` otherwise).
    """
    source = models_dir / filename
    if model_format == "keras":
        if not source.is_file():
            raise FileNotFoundError(f"model not found: {source}")
        return source, file_version(source), None
    entry = export_entry(card, filename)
    if entry is None or entry.get("format") != model_format:
        if not source.is_file():
            raise FileNotFoundError(f"model not found: {source}")
        raise ExportMismatch(
            f"{source}: the model card names no {model_format} export of it; run "
            f"`python -m training export {models_dir}` (or serve the .keras files: MRI_RUNTIME=keras)"
        )
    path = models_dir / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {path} (the model card's export of {filename})")
    if sha256(path) != entry["sha256"]:
        raise ExportMismatch(f"{path}: not the file the model card names (SHA-256 differs); re-export it")
    if source.is_file() and file_version(source) != entry["source_version"]:
        raise ExportMismatch(
            f"{path}: exported from another {filename} (version {entry['source_version']}, the file "
            f"is {file_version(source)}); re-export: python -m training export {models_dir}"
        )
    return path, str(entry["source_version"]), entry


@dataclass(frozen=True)
class OpenedFile:
    """One model file loaded by a runtime and checked: the file loaded, the served version, S."""

    path: Path
    version: str
    input_size: int
    model: LoadedModel = field(repr=False)


def open_file(
    models_dir: Path, filename: str, card: dict[str, Any], runtime: Runtime, require_gpu: bool
) -> OpenedFile:
    """Load one model file with ``runtime`` and check its export against the card's probe
    (:class:`ExportMismatch` when its answers are off, e.g. in a reduced precision)."""
    path, version, export = model_file(models_dir, filename, card, runtime.model_format)
    start = time.perf_counter()
    model = runtime.load(path, require_gpu)
    input_size = model.input_size or DEFAULT_INPUT_SIZE
    if export is not None:
        why = probe_mismatch(export, model.run(probe_input(input_size)))
        if why is not None:
            precision = f", precision {runtime.precision}" if runtime.precision else ""
            raise ExportMismatch(
                f"{path} refused ({runtime.name}{precision}): {why}; re-export it (python -m training export "
                f"{models_dir}) or serve the .keras files (MRI_RUNTIME=keras)"
            )
    logger.info(
        "loaded %s version=%s file=%s runtime=%s threads=%d input=%d outputs=%s in %.1fs",
        filename,
        version,
        path.name,
        runtime.name,
        runtime.threads,
        input_size,
        list(model.output_names),
        time.perf_counter() - start,
    )
    return OpenedFile(path=path, version=version, input_size=input_size, model=model)


def role_runner(
    card: dict[str, Any], role: str, path: str, files: dict[str, FileRunner], threshold: float | None
) -> ModelRunner:
    """The runner of ``role`` on input ``path``: its file, output, name and threshold (setting, else card)."""
    spec = role_spec(card, role, path)
    runner = files[spec.file]
    if spec.output not in runner.model.output_names:
        raise ValueError(
            f"{runner.path}: outputs {list(runner.model.output_names)}; the model card's {role} reads "
            f"{spec.output!r}"
        )
    return ModelRunner(
        role=role,
        input_path=path,
        name=str(spec.entry.get("name") or role),
        threshold=float(threshold if threshold is not None else spec.threshold),
        card=spec.entry,
        output=spec.output,
        runner=runner,
        postprocess=spec.postprocess,
    )
