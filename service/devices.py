"""The devices the inference runtime sees at start-up: logged, reported by /v2/models; MRI_REQUIRE_GPU.

Each runtime (:mod:`service.runtimes`) lists its own devices: TensorFlow's physical devices for
Keras (with memory growth on every GPU, so that one process does not lock a whole GPU), the
execution providers of ONNX Runtime, the devices of OpenVINO. Models run on the first GPU when
the runtime uses one, else on the CPU: ``inference_device`` says which. With ``MRI_REQUIRE_GPU``
a runtime without a GPU fails the load (:class:`NoGPUError`) instead of running on the CPU
unnoticed; runtimes that could fall back to the CPU model by model check again when they load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


class NoGPUError(RuntimeError):
    """``MRI_REQUIRE_GPU`` is set and the runtime sees (or uses) no GPU."""


@dataclass(frozen=True)
class Device:
    """One device of the runtime: ``name`` as the runtime spells it, ``type`` ``CPU`` or ``GPU``."""

    name: str
    type: str


def inference_device(devices: list[Device]) -> str:
    """Where the models run: the first GPU when there is one, else the CPU (runtime default placement)."""
    gpus = [d for d in devices if d.type == "GPU"]
    return gpus[0].name if gpus else next((d.name for d in devices if d.type == "CPU"), "CPU")


def check_devices(runtime: str, devices: list[Device], require_gpu: bool = False) -> list[Device]:
    """Log the runtime's devices; :class:`NoGPUError` when a GPU is required and it sees none."""
    logger.info(
        "%s sees %d device(s): %s; inference on %s",
        runtime,
        len(devices),
        ", ".join(f"{d.name} ({d.type})" for d in devices),
        inference_device(devices),
    )
    if require_gpu and not any(d.type == "GPU" for d in devices):
        raise NoGPUError(
            f"MRI_REQUIRE_GPU is set but {runtime} sees no GPU (devices: {[d.name for d in devices]})"
        )
    if not any(d.type == "GPU" for d in devices):
        logger.info("no GPU visible: the models run on the CPU")
    return devices
