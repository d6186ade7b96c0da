"""Keras 3 (TensorFlow backend in the images): runs the ``.keras`` file itself, ``predict_on_batch``.

The reference every other runtime is measured and checked against. ``threads`` sets TensorFlow's
intra-op thread pool (process-wide, only before TensorFlow starts its runtime). Devices are
TensorFlow's; every GPU gets memory growth (allocate as needed) before a model is loaded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from contract.exports import named_outputs
from contract.spec import PREPROCESS_LAYER, has_preprocess_layer
from service.devices import Device, NoGPUError
from service.runtimes.base import LoadedModel, Runtime, RuntimeUnavailable, square_input_size

logger = logging.getLogger(__name__)


class KerasModel(LoadedModel):
    def __init__(self, model: Any, path: Path) -> None:
        self._model = model
        self.output_names = tuple(model.output_names)
        shape = model.input_shape
        self.input_size = square_input_size(shape if not isinstance(shape, list) else (), path)

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return named_outputs(self._model.predict_on_batch(batch), self.output_names)


class KerasRuntime(Runtime):
    name = "keras"
    model_format = "keras"
    platform = "keras_tensorflow"

    def __init__(self, threads: int = 0, precision: str | None = None) -> None:
        super().__init__(threads, precision)
        try:
            import keras

            tf = None
            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf
        except ImportError as exc:
            raise RuntimeUnavailable(
                f"MRI_RUNTIME=keras needs keras and TensorFlow, which this environment lacks ({exc}); "
                "the CPU image serves the ONNX exports (MRI_RUNTIME=onnxruntime)"
            ) from exc
        self._keras, self._tf = keras, tf
        self.backend = keras.backend.backend()
        if threads and tf is not None:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
            except RuntimeError as exc:  # TensorFlow already started in this process
                logger.warning("intra-op threads not set to %d: %s", threads, exc)

    def devices(self) -> list[Device]:
        tf = self._tf
        if tf is None:  # the images run TensorFlow; another backend is reported as its CPU
            return [Device(f"{self.backend}:cpu", "CPU")]
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError as exc:  # the GPU was initialised before (another app in this process)
                logger.warning("memory growth not set on %s: %s", gpu.name, exc)
        return [Device(d.name, d.device_type) for d in tf.config.list_physical_devices()]

    def load(self, path: Path, require_gpu: bool = False) -> KerasModel:
        if require_gpu and not any(d.type == "GPU" for d in self.devices()):
            raise NoGPUError(f"MRI_REQUIRE_GPU is set but {self.backend} sees no GPU to run {path.name}")
        model = self._keras.saving.load_model(path, compile=False)
        if not has_preprocess_layer(model):
            raise ValueError(
                f"{path}: no '{PREPROCESS_LAYER}' Rescaling layer; the model breaks the contract"
            )
        return KerasModel(model, path)
