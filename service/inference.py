"""Loading, warm-up and thread-safe batch inference of the two models of a models folder.

``MRI_RUNTIME`` picks the runtime (:mod:`service.runtimes`); this module maps each role to the
file that runtime loads: ``classifier.keras`` / ``segmenter.keras`` for Keras, the ONNX exports
the model card names for them (``exports``, :mod:`contract.exports`) for ONNX Runtime and
OpenVINO. An export is served only when it is the file the card names (SHA-256), was made from the
``.keras`` file beside it (when that is there) and reproduces the Keras model's recorded answers
to the probe input within the card's tolerance; otherwise the load fails with
:class:`ExportMismatch`, saying why. Models run under a lock per model; with ``MRI_BATCHING`` each
model has a :class:`service.batching.Batcher` that joins the inputs of requests arriving together
into one model call; off, each request is its own call. A role reads the model's only output, or
the output named for it (:data:`contract.exports.ROLE_OUTPUTS`) of a model with several.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from contract.exports import ROLE_OUTPUTS, export_entry, probe_input, probe_mismatch, sha256
from contract.spec import (
    CLASSIFIER_FILE,
    DEFAULT_INPUT_SIZE,
    SEGMENTER_FILE,
    file_version,
    read_card,
    to_model_input,
)
from service.batching import Batcher
from service.devices import Device, check_devices
from service.runtimes import LoadedModel, Runtime, get_runtime
from service.settings import DEFAULT_THRESHOLD, Settings

logger = logging.getLogger(__name__)

#: Called after each inference with (role, batch size, seconds).
InferenceObserver = Callable[[str, int, float], None]


class ExportMismatch(ValueError):
    """An exported model file cannot be served: missing from the card, changed, stale or not at parity."""


@dataclass
class ModelRunner:
    """One loaded model and what the service reports about it.

    ``role``: "classifier" or "segmenter"; ``name``: from the model card, else the file stem;
    ``version``: :func:`contract.file_version` of the ``.keras`` file (the export's source, whatever
    the runtime); ``path``: the file the runtime loaded; ``input_size``: S of the (S, S, 3) input;
    ``threshold``: cut-off in use (setting, else card, else ``DEFAULT_THRESHOLD``); ``card``: the
    model's entry of ``model_card.json`` ({} without one); ``output``: the model output it reads.
    """

    role: str
    name: str
    version: str
    path: Path
    input_size: int
    threshold: float
    card: dict[str, Any]
    model: LoadedModel = field(repr=False)
    output: str = ""
    observer: InferenceObserver | None = field(default=None, repr=False)
    batcher: Batcher | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def prepare(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Stack ``(H, W, 3)`` uint8 slices into the model's float32 ``(N, S, S, 3)`` input."""
        return np.stack([to_model_input(image, self.input_size) for image in images])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """The role's model output for one input batch (blocking: call it from a worker thread).

        Through the batcher when there is one (may raise :class:`service.batching.QueueFull`).
        """
        if self.batcher is not None:
            return self.batcher.submit(batch)
        return self.call_model(batch)

    def call_model(self, batch: np.ndarray) -> np.ndarray:
        """One model call on ``batch``, now, under the model's lock."""
        start = time.perf_counter()
        with self._lock:
            outputs = self.model.run(batch)
        if self.observer is not None:
            self.observer(self.role, len(batch), time.perf_counter() - start)
        return np.asarray(outputs[self.output])

    def warm_up(self) -> None:
        """Run batch sizes 1 and 2 once (traced functions, allocated buffers) before the first request."""
        for n in (1, 2):
            with self._lock:
                self.model.run(np.zeros((n, self.input_size, self.input_size, 3), np.float32))


@dataclass(frozen=True)
class LoadedModels:
    """Both models, warmed up, the whole model card ({} without one), the runtime and its devices."""

    classifier: ModelRunner
    segmenter: ModelRunner
    card: dict[str, Any]
    devices: list[Device] = field(default_factory=list)
    runtime: str = ""
    platform: str = ""

    def runners(self) -> tuple[ModelRunner, ModelRunner]:
        return self.classifier, self.segmenter

    def close(self) -> None:
        """Stop the batchers (queued inputs are still answered)."""
        for runner in self.runners():
            if runner.batcher is not None:
                runner.batcher.close()
                runner.batcher = None


def load_models(settings: Settings, observer: InferenceObserver | None = None) -> LoadedModels:
    """Load, check and warm up the classifier and the segmenter of ``settings.models_dir``.

    The runtime is ``settings.runtime``; its devices are logged first (and, with
    ``MRI_REQUIRE_GPU``, a runtime without a GPU fails the load). With ``MRI_BATCHING`` each
    runner gets a started :class:`Batcher`.
    """
    models_dir = Path(settings.models_dir)
    card = read_card(models_dir)
    runtime = get_runtime(settings.runtime, settings.intra_op_threads)
    files = {"classifier": CLASSIFIER_FILE, "segmenter": SEGMENTER_FILE}
    for filename in files.values():  # a missing model fails before any is loaded
        model_file(models_dir, filename, card, runtime.model_format)
    devices = check_devices(runtime.name, runtime.devices(), settings.require_gpu)
    thresholds = {"classifier": settings.classifier_threshold, "segmenter": settings.segmenter_threshold}
    runners = {
        role: load_runner(models_dir, role, filename, card, thresholds[role], runtime, settings.require_gpu)
        for role, filename in files.items()
    }
    for runner in runners.values():
        runner.observer = observer
        if settings.batching:
            runner.batcher = Batcher(
                runner.call_model,
                name=runner.role,
                max_batch_size=settings.max_batch_size,
                max_wait_s=settings.max_batch_wait_ms / 1000.0,
                max_queue=settings.max_queue,
            )
    return LoadedModels(
        classifier=runners["classifier"],
        segmenter=runners["segmenter"],
        card=card,
        devices=devices,
        runtime=runtime.name,
        platform=runtime.platform,
    )


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


def load_runner(
    models_dir: Path,
    role: str,
    filename: str,
    card: dict[str, Any],
    threshold: float | None,
    runtime: Runtime,
    require_gpu: bool = False,
) -> ModelRunner:
    """Load the role's model file with ``runtime``, check it against the contract and warm it up."""
    path, version, export = model_file(models_dir, filename, card, runtime.model_format)
    start = time.perf_counter()
    model = runtime.load(path, require_gpu)
    input_size = model.input_size or DEFAULT_INPUT_SIZE
    if export is not None:
        why = probe_mismatch(export, model.run(probe_input(input_size)))
        if why is not None:
            raise ExportMismatch(
                f"{path} refused ({runtime.name}): {why}; re-export it (python -m training export "
                f"{models_dir}) or serve the .keras files (MRI_RUNTIME=keras)"
            )
    entry = (card.get("models") or {}).get(role) or {}
    if threshold is None:
        threshold = entry.get("threshold")
    runner = ModelRunner(
        role=role,
        name=str(entry.get("name") or Path(filename).stem),
        version=version,
        path=path,
        input_size=input_size,
        threshold=float(threshold if threshold is not None else DEFAULT_THRESHOLD),
        card=entry,
        model=model,
        output=_role_output(model, role, path),
    )
    runner.warm_up()
    logger.info(
        "loaded %s name=%s version=%s file=%s runtime=%s input=%d threshold=%.3f in %.1fs",
        role,
        runner.name,
        runner.version,
        path.name,
        runtime.name,
        runner.input_size,
        runner.threshold,
        time.perf_counter() - start,
    )
    return runner


def _role_output(model: LoadedModel, role: str, path: Path) -> str:
    """The output a role reads: the model's only one, else the one named for the role."""
    names = model.output_names
    if len(names) == 1:
        return names[0]
    if ROLE_OUTPUTS[role] in names:
        return ROLE_OUTPUTS[role]
    raise ValueError(f"{path}: outputs {list(names)}; the {role} reads '{ROLE_OUTPUTS[role]}'")
