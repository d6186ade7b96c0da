"""Open Inference Protocol (KServe v2) tensors: the served models' signatures, request parsing, answers.

Both models take one input ``input``: FP32 ``[N, S, S, 3]``, raw intensities in the contract's
``INPUT_RANGE`` [0, 255], channels pre-contrast, FLAIR, post-contrast (``contract/spec.py``; the
scaling to [0, 1] is inside the models). Outputs:

- ``lgg-classifier``: ``tumour_probability`` FP32 ``[N]`` and ``has_tumour`` BOOL ``[N]``
  (probability >= the served threshold);
- ``lgg-segmenter``: ``tumour_probability`` FP32 ``[N, S, S]`` per pixel and ``mask`` BOOL
  ``[N, S, S]`` (probability >= the served threshold), at the model's resolution S.

Tensors travel as JSON ``data`` (row-major, flat or nested) or with the binary tensor data
extension: the body is the JSON header (``Inference-Header-Content-Length`` bytes) followed by the
raw little-endian tensors, each input naming its byte count in ``parameters.binary_data_size``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from contract.spec import INPUT_RANGE, tumour_probability

HEADER_LENGTH = "Inference-Header-Content-Length"
INPUT_NAME = "input"
#: OIP datatype names of the tensors this service reads and writes, with their NumPy types.
DATATYPES: dict[str, np.dtype] = {"FP32": np.dtype("<f4"), "BOOL": np.dtype(np.bool_)}


class OIPError(Exception):
    """A request the protocol refuses: answered ``{"error": message}`` with ``status_code``."""

    def __init__(self, message: str, status_code: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.headers = headers


@dataclass(frozen=True)
class TensorSpec:
    """Name, datatype and shape (-1 = any) of one tensor of a model's signature."""

    name: str
    datatype: str
    shape: list[int]

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape}


def signature(role: str, size: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs of the classifier or segmenter for input side ``size``."""
    inputs = [TensorSpec(INPUT_NAME, "FP32", [-1, size, size, 3])]
    if role == "classifier":
        outputs = [TensorSpec("tumour_probability", "FP32", [-1]), TensorSpec("has_tumour", "BOOL", [-1])]
    else:
        outputs = [
            TensorSpec("tumour_probability", "FP32", [-1, size, size]),
            TensorSpec("mask", "BOOL", [-1, size, size]),
        ]
    return inputs, outputs


def output_tensors(role: str, raw: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """The protocol outputs of one model call's raw outputs (see the module docstring)."""
    if role == "classifier":
        probability = tumour_probability(raw)
        return {"tumour_probability": probability, "has_tumour": probability >= threshold}
    probability = np.asarray(raw, np.float32)
    if probability.ndim == 4:
        probability = probability[..., 0]
    return {"tumour_probability": probability, "mask": probability >= threshold}


class _RequestInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class _RequestOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class _InferRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[_RequestInput]
    outputs: list[_RequestOutput] | None = None


@dataclass(frozen=True)
class InferRequest:
    """A parsed request: its id, the input batch and which outputs to send, each binary or JSON."""

    id: str | None
    batch: np.ndarray
    outputs: list[tuple[str, bool]]


def parse_infer_request(
    body: bytes, header_length: str | None, size: int, output_specs: list[TensorSpec], max_batch: int
) -> InferRequest:
    """Read an infer request for a model of input side ``size``; :class:`OIPError` (400) when invalid."""
    binary = b""
    if header_length is not None:
        try:
            length = int(header_length)
        except ValueError:
            raise OIPError(f"{HEADER_LENGTH} is not an integer: {header_length!r}") from None
        if not 0 <= length <= len(body):
            raise OIPError(f"{HEADER_LENGTH} {length} is outside the body of {len(body)} bytes")
        body, binary = body[:length], body[length:]
    try:
        request = _InferRequest.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise OIPError(f"not a valid inference request: {_first_line(exc)}") from None
    if len(request.inputs) != 1 or request.inputs[0].name != INPUT_NAME:
        raise OIPError(
            f"expected exactly one input named '{INPUT_NAME}', got {[i.name for i in request.inputs]}"
        )
    batch, used = _input_tensor(request.inputs[0], binary)
    if used != len(binary):
        raise OIPError(f"{len(binary) - used} bytes of binary data after the input tensors")
    expected = [-1, size, size, 3]
    if batch.ndim != 4 or list(batch.shape[1:]) != expected[1:] or not 1 <= batch.shape[0] <= max_batch:
        raise OIPError(
            f"input shape {list(batch.shape)}: expected [N, {size}, {size}, 3] with 1 <= N <= {max_batch}"
        )
    low, high = INPUT_RANGE
    if not np.isfinite(batch).all() or batch.min() < low or batch.max() > high:
        raise OIPError(f"input values must be finite and within [{low:g}, {high:g}] (raw intensities)")
    return InferRequest(request.id, batch, _requested_outputs(request, output_specs))


def _input_tensor(tensor: _RequestInput, binary: bytes) -> tuple[np.ndarray, int]:
    """The tensor's array and how many bytes of ``binary`` it took."""
    if tensor.datatype != "FP32":
        raise OIPError(f"input '{tensor.name}' must be FP32, got {tensor.datatype}")
    if any(d < 0 for d in tensor.shape):
        raise OIPError(f"input '{tensor.name}': negative dimension in shape {tensor.shape}")
    count = int(np.prod(tensor.shape, dtype=np.int64))
    size = (tensor.parameters or {}).get("binary_data_size")
    if size is not None:
        if tensor.data is not None:
            raise OIPError(f"input '{tensor.name}' has both data and binary_data_size")
        dtype = DATATYPES["FP32"]
        if not isinstance(size, int) or size != count * dtype.itemsize or size > len(binary):
            raise OIPError(
                f"input '{tensor.name}': binary_data_size {size} does not match shape {tensor.shape} "
                f"({count * dtype.itemsize} bytes) or the {len(binary)} bytes sent"
            )
        return np.frombuffer(binary[:size], dtype).reshape(tensor.shape).astype(np.float32), size
    if tensor.data is None:
        raise OIPError(f"input '{tensor.name}' has neither data nor binary_data_size")
    try:
        array = np.asarray(tensor.data, dtype=np.float32)
    except (TypeError, ValueError):
        raise OIPError(f"input '{tensor.name}': data is not an array of numbers") from None
    if array.size != count:
        raise OIPError(f"input '{tensor.name}': {array.size} values for shape {tensor.shape}")
    return array.reshape(tensor.shape), 0


def _requested_outputs(request: _InferRequest, specs: list[TensorSpec]) -> list[tuple[str, bool]]:
    default_binary = bool((request.parameters or {}).get("binary_data_output", False))
    if request.outputs is None:
        return [(spec.name, default_binary) for spec in specs]
    known = {spec.name for spec in specs}
    chosen = []
    for output in request.outputs:
        if output.name not in known:
            raise OIPError(f"unknown output '{output.name}'; the model has {sorted(known)}")
        chosen.append((output.name, bool((output.parameters or {}).get("binary_data", default_binary))))
    return chosen


def encode_infer_response(
    model_name: str,
    model_version: str,
    request: InferRequest,
    tensors: dict[str, np.ndarray],
    specs: list[TensorSpec],
) -> tuple[bytes, dict[str, str]]:
    """The answer body and its headers (``Inference-Header-Content-Length`` when any output is binary)."""
    datatypes = {spec.name: spec.datatype for spec in specs}
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, binary in request.outputs:
        array = np.ascontiguousarray(tensors[name], dtype=DATATYPES[datatypes[name]])
        entry: dict[str, Any] = {"name": name, "datatype": datatypes[name], "shape": list(array.shape)}
        if binary:
            blob = array.tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = array.ravel().tolist()
        outputs.append(entry)
    answer: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "outputs": outputs}
    if request.id is not None:
        answer["id"] = request.id
    header = json.dumps(answer, separators=(",", ":")).encode()
    if not blobs:
        return header, {"content-type": "application/json"}
    return header + b"".join(blobs), {
        "content-type": "application/octet-stream",
        HEADER_LENGTH: str(len(header)),
    }


def _first_line(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        text = f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    return text.splitlines()[0] if text else type(exc).__name__
