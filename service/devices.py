"""The devices the Keras backend sees at start-up: logged, reported by /v2/models, GPU memory growth.

TensorFlow by default reserves nearly all memory of every GPU it sees in the first process that
touches it; :func:`discover_devices` turns on memory growth (allocate as needed) before any model
is loaded, so a GPU is not locked by one process. TensorFlow places operations on the first GPU
when it sees one, else on the CPU: ``inference_device`` says which.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


class NoGPUError(RuntimeError):
    """``MRI_REQUIRE_GPU`` is set and the backend sees no GPU."""


@dataclass(frozen=True)
class Device:
    """One device of the backend: ``name`` as the backend spells it, ``type`` ``CPU`` or ``GPU``."""

    name: str
    type: str


def inference_device(devices: list[Device]) -> str:
    """Where the models run: the first GPU when there is one, else the CPU (backend default placement)."""
    gpus = [d for d in devices if d.type == "GPU"]
    return gpus[0].name if gpus else next((d.name for d in devices if d.type == "CPU"), "CPU")


def discover_devices(require_gpu: bool = False) -> list[Device]:
    """List (and log) the backend's devices; memory growth on every GPU; :class:`NoGPUError` if required and none."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError as exc:  # the GPU was initialised before (another app in this process)
                logger.warning("memory growth not set on %s: %s", gpu.name, exc)
        devices = [Device(d.name, d.device_type) for d in tf.config.list_physical_devices()]
    else:  # the image runs TensorFlow; another backend is reported as its CPU
        devices = [Device(f"{backend}:cpu", "CPU")]
    gpus = [d for d in devices if d.type == "GPU"]
    logger.info(
        "%s sees %d device(s): %s; inference on %s",
        backend,
        len(devices),
        ", ".join(f"{d.name} ({d.type})" for d in devices),
        inference_device(devices),
    )
    if require_gpu and not gpus:
        raise NoGPUError(
            f"MRI_REQUIRE_GPU is set but {backend} sees no GPU (devices: {[d.name for d in devices]})"
        )
    if not gpus:
        logger.info("no GPU visible: the models run on the CPU")
    return devices
