"""Inference runtimes, one module each, behind :class:`service.runtimes.base.Runtime`.

``MRI_RUNTIME`` names one (:func:`get_runtime`), or ``auto`` (the default): the fastest installed
one, measured at start-up (:mod:`service.runtimes.selection`). A runtime's package is imported only
when it is asked for, so an image installs only the runtimes it may serve with (the CPU image has
no TensorFlow):

- ``keras``: the ``.keras`` files with Keras 3 / TensorFlow (the reference; the GPU image);
- ``onnxruntime``: the ``.onnx`` exports with ONNX Runtime (the CPU image);
- ``openvino``: the ``.onnx`` exports with OpenVINO (the CPU image).

How the choice is made, and figures: docs/runtimes.md.
"""

from __future__ import annotations

import importlib
from typing import Literal, get_args

from service.runtimes.base import LoadedModel, Runtime, RuntimeUnavailable

RuntimeName = Literal["keras", "onnxruntime", "openvino"]
RUNTIMES: tuple[str, ...] = get_args(RuntimeName)
#: ``MRI_RUNTIME`` value: measure every installed runtime at start-up and serve the fastest.
AUTO = "auto"
RuntimeSetting = Literal["auto", "keras", "onnxruntime", "openvino"]
_CLASSES = {"keras": "KerasRuntime", "onnxruntime": "OnnxRuntime", "openvino": "OpenVinoRuntime"}

__all__ = [
    "AUTO",
    "RUNTIMES",
    "LoadedModel",
    "Runtime",
    "RuntimeName",
    "RuntimeSetting",
    "RuntimeUnavailable",
    "get_runtime",
]


def get_runtime(name: str, threads: int = 0, precision: str | None = None) -> Runtime:
    """The runtime called ``name`` with ``threads`` intra-op threads and the inference ``precision``
    hint (None: float32); :class:`RuntimeUnavailable` when its package is not installed,
    ``ValueError`` for an unknown name or a precision it does not offer here."""
    if name not in _CLASSES:
        raise ValueError(f"unknown runtime {name!r}: one of {list(RUNTIMES)}")
    module = importlib.import_module(f"service.runtimes.{name}")
    return getattr(module, _CLASSES[name])(threads, precision)
