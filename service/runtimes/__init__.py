"""Inference runtimes, one module each, behind :class:`service.runtimes.base.Runtime`.

``MRI_RUNTIME`` picks one (:func:`get_runtime`); its package is imported only then, so an image
installs only the runtime it serves with (the CPU image has no TensorFlow):

- ``keras``: the ``.keras`` files with Keras 3 / TensorFlow (the reference; the GPU image);
- ``onnxruntime``: the ``.onnx`` exports with ONNX Runtime (the CPU image, the default);
- ``openvino``: the ``.onnx`` exports with OpenVINO.

Which one serves by default, and why (figures): docs/runtimes.md.
"""

from __future__ import annotations

import importlib
from typing import Literal, get_args

from service.runtimes.base import LoadedModel, Runtime, RuntimeUnavailable

RuntimeName = Literal["keras", "onnxruntime", "openvino"]
RUNTIMES: tuple[str, ...] = get_args(RuntimeName)
_CLASSES = {"keras": "KerasRuntime", "onnxruntime": "OnnxRuntime", "openvino": "OpenVinoRuntime"}

__all__ = ["RUNTIMES", "LoadedModel", "Runtime", "RuntimeName", "RuntimeUnavailable", "get_runtime"]


def get_runtime(name: str, threads: int = 0) -> Runtime:
    """The runtime called ``name`` with ``threads`` intra-op threads; :class:`RuntimeUnavailable` when
    its package is not installed, ``ValueError`` for an unknown name."""
    if name not in _CLASSES:
        raise ValueError(f"unknown runtime {name!r}: one of {list(RUNTIMES)}")
    module = importlib.import_module(f"service.runtimes.{name}")
    return getattr(module, _CLASSES[name])(threads)
