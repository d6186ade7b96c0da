"""Exported model files (ONNX) beside the ``.keras`` ones: file names, card entry, probe and parity.

``training/export.py`` writes, for a ``<stem>.keras`` of a models folder, ``<stem>.onnx`` (the same
graph, the ``Rescaling`` preprocessing inside, the Keras output names kept) and an entry under the
card's ``EXPORTS_KEY``, keyed by the ``.keras`` file name::

    "exports": {"classifier.keras": {
        "file": "classifier.onnx", "format": "onnx", "sha256": "...", "version": "<12 hex>",
        "source_version": "<file_version of classifier.keras>", "weights": "float32" | "float16",
        "opset": 15, "outputs": ["tumour_probability"], "exporter": {...},
        "probe": {"tolerance": 1e-4, "max_abs_diff": ..., "outputs": {name: {"shape": [...],
                  "indices": [...], "values": [...], "mean": ...}}}}}

The probe is a fixed synthetic batch (:func:`probe_input`); ``probe.outputs`` holds the Keras
model's answers to it (sampled: :func:`probe_reference`). The service runs every exported model on
the probe when it loads it and refuses the model when an answer is further than ``tolerance``
from the reference (:func:`probe_mismatch`), so an export that does not reproduce its Keras model
never serves. Pure NumPy: no Keras, no ONNX import.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Card key holding one entry per exported ``.keras`` file (keyed by that file's name).
EXPORTS_KEY = "exports"
ONNX_FORMAT = "onnx"
ONNX_SUFFIX = ".onnx"
#: Storage type of the exported weights: float32 as trained, or float16 initializers cast back to
#: float32 inside the graph (half the file; the computation stays float32).
WEIGHT_TYPES = ("float32", "float16")
#: Largest difference allowed between an exported model's answers and its Keras model's, per
#: probability (issue 15: probabilities within 1e-4, masks identical after thresholding).
PARITY_TOLERANCE = 1e-4
#: Probe tolerance of float16-stored weights: they move probabilities by about 1e-3 on real slices
#: and 1e-2 on the probe (docs/runtimes.md); whether masks and verdicts still match after
#: thresholding is for the parity tests on real slices to tell.
FLOAT16_TOLERANCE = 2e-2
#: Values of each probe output recorded in the card (evenly spaced over the flattened output).
PROBE_SAMPLES = 64


def exported_file(model_file: str) -> str:
    """The ONNX file name of a ``.keras`` file name: ``classifier.keras`` -> ``classifier.onnx``."""
    return Path(model_file).stem + ONNX_SUFFIX


def export_entry(card: Mapping[str, Any], model_file: str) -> dict[str, Any] | None:
    """The card's export entry of ``model_file`` (a ``.keras`` name), or None."""
    return (card.get(EXPORTS_KEY) or {}).get(model_file)


def sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks (any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tolerance_for(weights: str) -> float:
    """The probe tolerance of an export whose weights are stored as ``weights``."""
    if weights not in WEIGHT_TYPES:
        raise ValueError(f"weights must be one of {WEIGHT_TYPES}, got {weights!r}")
    return PARITY_TOLERANCE if weights == "float32" else FLOAT16_TOLERANCE


def probe_input(size: int) -> np.ndarray:
    """The fixed probe batch ``(4, size, size, 3)`` float32 in [0, 255] (no randomness, any NumPy).

    Mid grey, a diagonal ramp, a bright disc on a dark field (a lesion-like blob) and a sine
    pattern different on each channel: inputs that keep sigmoid outputs away from saturation in
    places, so that a wrong export shows.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / max(size - 1, 1)
    grey = np.full((size, size), 127.5)
    ramp = 255.0 * (x + y) / 2.0
    disc = np.where((x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.04, 230.0, 40.0)
    channels = [127.5 + 127.5 * np.sin(2 * np.pi * (k + 1) * (x + 0.5 * y) + k) for k in range(3)]
    images = [
        np.stack([grey] * 3, -1),
        np.stack([ramp] * 3, -1),
        np.stack([disc] * 3, -1),
        np.stack(channels, -1),
    ]
    return np.stack(images).astype(np.float32)


def named_outputs(outputs: Any, names: Sequence[str]) -> dict[str, np.ndarray]:
    """A model call's outputs as ``name -> float32 array``: a dict as it is, one array or a list by ``names``."""
    if isinstance(outputs, Mapping):
        return {str(k): np.asarray(v, dtype=np.float32) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        if len(outputs) != len(names):
            raise ValueError(f"{len(outputs)} outputs for {len(names)} names {list(names)}")
        return {n: np.asarray(v, dtype=np.float32) for n, v in zip(names, outputs, strict=True)}
    if len(names) != 1:
        raise ValueError(f"one output for {len(names)} names {list(names)}")
    return {names[0]: np.asarray(outputs, dtype=np.float32)}


def probe_reference(outputs: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """What the card keeps of the reference answers to the probe: shape, sampled values, mean."""
    reference = {}
    for name, array in outputs.items():
        flat = np.asarray(array, dtype=np.float64).ravel()
        indices = np.unique(np.linspace(0, flat.size - 1, min(PROBE_SAMPLES, flat.size)).astype(int))
        reference[name] = {
            "shape": list(np.shape(array)),
            "indices": indices.tolist(),
            "values": [float(v) for v in flat[indices]],
            "mean": float(flat.mean()),
        }
    return reference


def probe_difference(reference: Mapping[str, Mapping[str, Any]], outputs: Mapping[str, np.ndarray]) -> float:
    """Largest absolute difference between ``outputs`` and the recorded reference (values and means).

    Raises ``ValueError`` when the output names or shapes differ from the reference.
    """
    if set(reference) != set(outputs):
        raise ValueError(f"outputs {sorted(outputs)} differ from the reference's {sorted(reference)}")
    worst = 0.0
    for name, ref in reference.items():
        array = np.asarray(outputs[name], dtype=np.float64)
        if list(array.shape) != list(ref["shape"]):
            raise ValueError(f"output {name!r} has shape {list(array.shape)}, the reference {ref['shape']}")
        values = array.ravel()[np.asarray(ref["indices"], dtype=np.int64)]
        worst = max(worst, float(np.max(np.abs(values - np.asarray(ref["values"])), initial=0.0)))
        worst = max(worst, abs(float(array.mean()) - float(ref["mean"])))
    return worst


def probe_mismatch(entry: Mapping[str, Any], outputs: Mapping[str, np.ndarray]) -> str | None:
    """Why ``outputs`` (answers to :func:`probe_input`) fail the export entry's probe; None when they pass."""
    probe = entry.get("probe") or {}
    if not probe.get("outputs"):
        return "the card records no probe reference for it"
    try:
        diff = probe_difference(probe["outputs"], outputs)
    except ValueError as exc:
        return str(exc)
    tolerance = float(probe["tolerance"])
    if not diff <= tolerance:
        return f"answers differ from the Keras model's by {diff:.3g} on the probe (tolerance {tolerance:g})"
    return None
