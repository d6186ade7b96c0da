"""The interface every inference runtime implements: load one model file, run batches, name devices.

A runtime knows nothing of the models folder's layout (which file plays which role): the service
(:mod:`service.inference`) picks the file, a runtime loads it and runs ``(N, S, S, 3)`` float32
batches, answering every named output of the model (one for today's classifier and segmenter,
several for a joint model) as ``name -> (N, ...) float32`` arrays.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

from service.devices import Device

#: The precision every runtime computes in unless given a reduced one (the exports are checked at it).
FLOAT32 = "f32"


class RuntimeUnavailable(RuntimeError):
    """The runtime's package is not installed in this environment (or image)."""


class LoadedModel(ABC):
    """One model file loaded by a runtime. Calls are serialised by the caller (one at a time)."""

    #: S of the model's ``(N, S, S, 3)`` input; None when the file does not fix it.
    input_size: int | None
    #: Output names, in the model's order.
    output_names: tuple[str, ...]

    @abstractmethod
    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of the model for ``batch`` ``(N, S, S, 3)`` float32 raw 0..255: name -> (N, ...)."""


class Runtime(ABC):
    """An inference runtime: which file format it runs, where, and how it loads a file."""

    #: ``MRI_RUNTIME`` value.
    name: ClassVar[str]
    #: Model file it loads: "keras" (the ``.keras`` file) or "onnx" (the exported ``.onnx`` file).
    model_format: ClassVar[str]
    #: Open Inference Protocol platform string of the models it serves.
    platform: ClassVar[str]

    def __init__(self, threads: int = 0, precision: str | None = None) -> None:
        """``threads``: intra-op threads of each model (0: the runtime's own default); ``precision``:
        an inference precision hint among :meth:`reduced_precisions` (None: float32, the precision
        the exports are checked at)."""
        if threads < 0:
            raise ValueError(f"threads must be >= 0, got {threads}")
        if precision is not None and precision not in self.reduced_precisions():
            raise ValueError(
                f"{self.name} offers no {precision!r} precision here (offers {self.reduced_precisions()})"
            )
        self.threads = threads
        self.precision = precision

    def reduced_precisions(self) -> tuple[str, ...]:
        """Inference precisions below float32 this runtime can compute in on this machine (e.g.
        OpenVINO's bf16 on CPUs with AMX or AVX-512 BF16): candidates of ``MRI_RUNTIME=auto``, served
        only when they pass the probe. None by default."""
        return ()

    @abstractmethod
    def devices(self) -> list[Device]:
        """The devices this runtime can run on here (at least the CPU)."""

    @abstractmethod
    def load(self, path: Path, require_gpu: bool = False) -> LoadedModel:
        """Load one model file; with ``require_gpu`` raise :class:`service.devices.NoGPUError` rather than
        run it anywhere but on a GPU."""


def square_input_size(shape: tuple | list, path: Path) -> int | None:
    """S of a ``(N, S, S, 3)`` input shape (None entries: not fixed); ValueError for any other shape."""
    dims = [d if isinstance(d, int) and d > 0 else None for d in shape]
    if len(dims) != 4 or dims[3] != 3 or dims[1] != dims[2]:
        raise ValueError(f"{path}: input shape {list(shape)} is not (N, S, S, 3)")
    return dims[1]
