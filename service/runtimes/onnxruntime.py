"""ONNX Runtime: runs the ``.onnx`` export of a model (``python -m training export``).

One ``InferenceSession`` per model with ``threads`` intra-op threads (0: one per core), one
inter-op thread and no spinning: idle pool threads sleep instead of busy-waiting, which on a
shared or CPU-limited host (a Kubernetes CPU limit) costs the other threads more than it saves
(measured in docs/runtimes.md). The CUDA provider is used when the installed onnxruntime has it
(``onnxruntime-gpu``); ONNX Runtime falls back to the CPU silently when CUDA cannot start, so with
``require_gpu`` a session that did not get the CUDA provider is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.devices import Device, NoGPUError
from service.runtimes.base import LoadedModel, Runtime, RuntimeUnavailable, square_input_size

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


class OnnxModel(LoadedModel):
    def __init__(self, session: object, path: Path) -> None:
        self._session = session
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"{path}: {len(inputs)} inputs, the contract has one (N, S, S, 3) image")
        self._input = inputs[0].name
        self.input_size = square_input_size(inputs[0].shape, path)
        self.output_names = tuple(o.name for o in session.get_outputs())

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        values = self._session.run(list(self.output_names), {self._input: np.asarray(batch, np.float32)})
        return dict(zip(self.output_names, values, strict=True))


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    model_format = "onnx"
    platform = "onnxruntime_onnx"

    def __init__(self, threads: int = 0, precision: str | None = None) -> None:
        super().__init__(threads, precision)
        try:
            import onnxruntime
        except ImportError as exc:
            raise RuntimeUnavailable(
                f"MRI_RUNTIME=onnxruntime needs the onnxruntime package, which this environment lacks ({exc})"
            ) from exc
        self._ort = onnxruntime

    def devices(self) -> list[Device]:
        providers = self._ort.get_available_providers()
        found = [Device(CPU_PROVIDER, "CPU")]
        if CUDA_PROVIDER in providers:
            found.insert(0, Device(CUDA_PROVIDER, "GPU"))
        return found

    def load(self, path: Path, require_gpu: bool = False) -> OnnxModel:
        options = self._ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = self._ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = [p.name for p in self.devices()]
        session = self._ort.InferenceSession(str(path), options, providers=providers)
        if require_gpu and CUDA_PROVIDER not in session.get_providers():
            raise NoGPUError(
                f"MRI_REQUIRE_GPU is set but ONNX Runtime runs {path.name} on {session.get_providers()} "
                f"(available: {self._ort.get_available_providers()}; install onnxruntime-gpu with CUDA)"
            )
        return OnnxModel(session, path)
