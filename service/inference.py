"""Loading, warm-up and thread-safe batch inference of the two models of a models folder.

Models are loaded with ``keras.saving.load_model(path, compile=False)`` and run through
``model.predict_on_batch`` (a compiled ``tf.function`` under the TensorFlow backend), under a lock
per model. With ``MRI_BATCHING`` on, each model has a :class:`service.batching.Batcher` that joins
the inputs of requests arriving together into one model call; off, each request is its own call.
Keras is imported only when models are loaded.
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

from contract.spec import (
    CLASSIFIER_FILE,
    DEFAULT_INPUT_SIZE,
    PREPROCESS_LAYER,
    SEGMENTER_FILE,
    file_version,
    read_card,
    to_model_input,
)
from service.batching import Batcher
from service.devices import Device, discover_devices
from service.settings import DEFAULT_THRESHOLD, Settings

logger = logging.getLogger(__name__)

#: Called after each inference with (role, batch size, seconds).
InferenceObserver = Callable[[str, int, float], None]


@dataclass
class ModelRunner:
    """One loaded model and what the service reports about it.

    ``role``: "classifier" or "segmenter"; ``name``: from the model card, else the file stem;
    ``version``: :func:`contract.file_version` of the file; ``input_size``: S of the (S, S, 3)
    input; ``threshold``: cut-off in use (setting, else card, else ``DEFAULT_THRESHOLD``); ``card``: the model's
    entry of ``model_card.json`` ({} without one).
    """

    role: str
    name: str
    version: str
    path: Path
    input_size: int
    threshold: float
    card: dict[str, Any]
    model: Any = field(repr=False)
    observer: InferenceObserver | None = field(default=None, repr=False)
    batcher: Batcher | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def prepare(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Stack ``(H, W, 3)`` uint8 slices into the model's float32 ``(N, S, S, 3)`` input."""
        return np.stack([to_model_input(image, self.input_size) for image in images])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Raw model outputs for one input batch (blocking: call it from a worker thread).

        Through the batcher when there is one (may raise :class:`service.batching.QueueFull`).
        """
        if self.batcher is not None:
            return self.batcher.submit(batch)
        return self.call_model(batch)

    def call_model(self, batch: np.ndarray) -> np.ndarray:
        """One model call on ``batch``, now, under the model's lock."""
        start = time.perf_counter()
        with self._lock:
            outputs = self.model.predict_on_batch(batch)
        if self.observer is not None:
            self.observer(self.role, len(batch), time.perf_counter() - start)
        return np.asarray(outputs)

    def warm_up(self) -> None:
        """Trace the compiled predict function for batch size 1 and then a generic batch size."""
        for n in (1, 2):
            with self._lock:
                self.model.predict_on_batch(np.zeros((n, self.input_size, self.input_size, 3), np.float32))


@dataclass(frozen=True)
class LoadedModels:
    """Both models, warmed up, the whole model card ({} without one) and the devices the backend sees."""

    classifier: ModelRunner
    segmenter: ModelRunner
    card: dict[str, Any]
    devices: list[Device] = field(default_factory=list)

    def runners(self) -> tuple[ModelRunner, ModelRunner]:
        return self.classifier, self.segmenter

    def close(self) -> None:
        """Stop the batchers (queued inputs are still answered)."""
        for runner in self.runners():
            if runner.batcher is not None:
                runner.batcher.close()
                runner.batcher = None


def load_models(settings: Settings, observer: InferenceObserver | None = None) -> LoadedModels:
    """Load, check and warm up ``classifier.keras`` and ``segmenter.keras`` of ``settings.models_dir``.

    Before the first model: the devices the backend sees are logged (and, with
    ``MRI_REQUIRE_GPU``, a missing GPU fails the load). With ``MRI_BATCHING`` each runner gets a
    started :class:`Batcher`.
    """
    models_dir = Path(settings.models_dir)
    card = read_card(models_dir)
    for filename in (CLASSIFIER_FILE, SEGMENTER_FILE):
        if not (models_dir / filename).is_file():
            raise FileNotFoundError(f"model not found: {models_dir / filename}")
    devices = discover_devices(require_gpu=settings.require_gpu)
    classifier = load_runner(models_dir, "classifier", CLASSIFIER_FILE, card, settings.classifier_threshold)
    segmenter = load_runner(models_dir, "segmenter", SEGMENTER_FILE, card, settings.segmenter_threshold)
    for runner in (classifier, segmenter):
        runner.observer = observer
        if settings.batching:
            runner.batcher = Batcher(
                runner.call_model,
                name=runner.role,
                max_batch_size=settings.max_batch_size,
                max_wait_s=settings.max_batch_wait_ms / 1000.0,
                max_queue=settings.max_queue,
            )
    return LoadedModels(classifier=classifier, segmenter=segmenter, card=card, devices=devices)


def load_runner(
    models_dir: Path, role: str, filename: str, card: dict[str, Any], threshold: float | None
) -> ModelRunner:
    """Load one model file, check it against the contract and warm it up."""
    path = models_dir / filename
    if not path.is_file():
        raise FileNotFoundError(f"{role} model not found: {path}")
    import keras

    start = time.perf_counter()
    model = keras.saving.load_model(path, compile=False)
    if PREPROCESS_LAYER not in {layer.name for layer in model.layers}:
        raise ValueError(f"{path}: no '{PREPROCESS_LAYER}' Rescaling layer; the model breaks the contract")
    entry = (card.get("models") or {}).get(role) or {}
    if threshold is None:
        threshold = entry.get("threshold")
    runner = ModelRunner(
        role=role,
        name=str(entry.get("name") or path.stem),
        version=file_version(path),
        path=path,
        input_size=_input_size(model, path),
        threshold=float(threshold if threshold is not None else DEFAULT_THRESHOLD),
        card=entry,
        model=model,
    )
    runner.warm_up()
    logger.info(
        "loaded %s name=%s version=%s input=%d threshold=%.3f in %.1fs",
        role,
        runner.name,
        runner.version,
        runner.input_size,
        runner.threshold,
        time.perf_counter() - start,
    )
    return runner


def _input_size(model: Any, path: Path) -> int:
    """S of the model's ``(None, S, S, 3)`` input (``DEFAULT_INPUT_SIZE`` when S is not fixed)."""
    shape = tuple(model.input_shape) if not isinstance(model.input_shape, list) else ()
    if len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
        raise ValueError(f"{path}: input shape {model.input_shape} is not (N, S, S, 3)")
    return int(shape[1]) if shape[1] is not None else DEFAULT_INPUT_SIZE
