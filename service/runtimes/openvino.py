"""OpenVINO: runs the ``.onnx`` export of a model (read directly, no IR conversion step).

Compiled for the CPU with the latency performance hint, ``threads`` inference threads (0:
OpenVINO's default) and float32 inference precision unless told otherwise: OpenVINO would by
default compute in bfloat16 or float16 on CPUs that have them (AMX, AVX-512 BF16, ARM), which can
break parity with Keras. Those reduced precisions (:meth:`OpenVinoRuntime.reduced_precisions`,
read from the device's ``OPTIMIZATION_CAPABILITIES``) are candidates of ``MRI_RUNTIME=auto``,
served only when the export's probe passes in them (:mod:`service.runtimes.selection`). With
``require_gpu`` a model is compiled for OpenVINO's GPU device, and refused when there is none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.devices import Device, NoGPUError
from service.runtimes.base import FLOAT32, LoadedModel, Runtime, RuntimeUnavailable, square_input_size

#: The CPU's ``OPTIMIZATION_CAPABILITIES`` entry -> the ``INFERENCE_PRECISION_HINT`` computing in it.
REDUCED_PRECISIONS = {"BF16": "bf16", "FP16": "f16"}


class OpenVinoModel(LoadedModel):
    def __init__(self, compiled: object, path: Path) -> None:
        if len(compiled.inputs) != 1:
            raise ValueError(
                f"{path}: {len(compiled.inputs)} inputs, the contract has one (N, S, S, 3) image"
            )
        shape = compiled.input(0).get_partial_shape()
        self.input_size = square_input_size([d.get_length() if d.is_static else None for d in shape], path)
        self._outputs = list(compiled.outputs)
        self.output_names = tuple(o.get_any_name() for o in self._outputs)
        self._request = compiled.create_infer_request()

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        results = self._request.infer({0: np.asarray(batch, np.float32)})
        # the request reuses its output buffers on the next call: copy
        return {name: np.array(results[o]) for name, o in zip(self.output_names, self._outputs, strict=True)}


class OpenVinoRuntime(Runtime):
    name = "openvino"
    model_format = "onnx"
    platform = "openvino"

    def __init__(self, threads: int = 0, precision: str | None = None) -> None:
        try:
            import openvino
        except ImportError as exc:
            raise RuntimeUnavailable(
                f"MRI_RUNTIME=openvino needs the openvino package, which this environment lacks ({exc})"
            ) from exc
        self._core = openvino.Core()
        super().__init__(threads, precision)

    def reduced_precisions(self) -> tuple[str, ...]:
        capabilities = set(self._core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
        return tuple(hint for capability, hint in REDUCED_PRECISIONS.items() if capability in capabilities)

    def devices(self) -> list[Device]:
        return [
            Device(d, "GPU" if d.startswith("GPU") else "CPU")
            for d in self._core.available_devices
            if d == "CPU" or d.startswith("GPU")
        ]

    def load(self, path: Path, require_gpu: bool = False) -> OpenVinoModel:
        gpus = [d.name for d in self.devices() if d.type == "GPU"]
        if require_gpu and not gpus:
            raise NoGPUError(f"MRI_REQUIRE_GPU is set but OpenVINO sees no GPU to run {path.name}")
        config: dict[str, object] = {
            "INFERENCE_PRECISION_HINT": self.precision or FLOAT32,
            "PERFORMANCE_HINT": "LATENCY",
        }
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = self.threads
        device = gpus[0] if require_gpu else "CPU"
        compiled = self._core.compile_model(self._core.read_model(str(path)), device, config)
        return OpenVinoModel(compiled, path)
