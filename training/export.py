"""Export the ``.keras`` models of a folder to ONNX, checked against Keras, and name them in the card.

``python -m training export MODELS_DIR [--weights float16]`` (and every training run, for the
models it saves) writes ``<stem>.onnx`` beside each ``<stem>.keras`` and its entry under the
card's ``exports`` (:mod:`contract.exports`: file, SHA-256, version, the ``.keras`` version it
came from, opset, output names, the probe reference). The graph is Keras' own export
(``model.export(path, format="onnx")``, tf2onnx under TensorFlow): the ``Rescaling``
preprocessing stays inside and the output names are the Keras model's (one output: its layer
name; a dict of outputs: the keys). ``weights="float16"`` stores every large float32 weight
as float16 with a ``Cast`` back to float32 before use: half the file, the computation stays
float32.

Before a file is written the export runs in ONNX Runtime on the probe and on the Keras model's
own answers: outside the tolerance (:func:`contract.exports.tolerance_for`) the export is refused
(:class:`ExportParityError`) and nothing is replaced. Files are written beside the target under a
temporary name and moved into place, so a failed export never leaves half a file. ONNX files
are protocol buffers (2 GiB at most); served model files stay far below (16 MiB each).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from contract.exports import (
    EXPORTS_KEY,
    ONNX_FORMAT,
    exported_file,
    named_outputs,
    probe_input,
    probe_reference,
    sha256,
    tolerance_for,
)
from contract.spec import PREPROCESS_LAYER, file_version, has_preprocess_layer, read_card, write_card

log = logging.getLogger(__name__)

#: float32 weights with fewer elements stay float32 under ``weights="float16"`` (biases, scales:
#: no size to gain, and the preprocessing scale 1/255 stays exact).
FLOAT16_MIN_ELEMENTS = 1024
FLOAT16_MAX = 65504.0
PROTOBUF_LIMIT = 2**31 - 1


class ExportParityError(ValueError):
    """The exported graph does not reproduce the Keras model within the tolerance."""


def export_folder(
    models_dir: str | Path, weights: str = "float32", files: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Export every ``*.keras`` of ``models_dir`` (or only ``files``, names of some) and name them in
    the card's ``exports``, which keeps no entry for a ``.keras`` file that is gone; returns it.

    Under another Keras backend than TensorFlow (JAX on the GPU machine) the export runs in a
    subprocess on TensorFlow, the backend whose export (tf2onnx) the project pins.
    """
    import keras

    models_dir = Path(models_dir)
    sources = [models_dir / f for f in files] if files is not None else sorted(models_dir.glob("*.keras"))
    if not sources:
        raise FileNotFoundError(f"no .keras model in {models_dir}")
    if keras.backend.backend() != "tensorflow":
        command = [sys.executable, "-m", "training", "export", str(models_dir), "--weights", weights]
        subprocess.run(
            [*command, *(["--files", *files] if files else [])],
            env={**os.environ, "KERAS_BACKEND": "tensorflow"},
            check=True,
        )
        return read_card(models_dir)[EXPORTS_KEY]
    entries = {path.name: export_model(path, weights) for path in sources}
    card = read_card(models_dir)
    kept = {k: v for k, v in (card.get(EXPORTS_KEY) or {}).items() if (models_dir / k).is_file()}
    card[EXPORTS_KEY] = dict(sorted({**kept, **entries}.items()))
    write_card(models_dir, card)
    return card[EXPORTS_KEY]


def copy_export(
    model_file: str, source_dir: Path, source_card: dict, target_dir: Path, target_card: dict
) -> None:
    """Copy the ONNX export of ``model_file`` and its card entry from one models folder to another.

    For a ``.keras`` file copied between folders (a promotion): the export made and checked with
    it goes along; without one, the target's entry for the file goes (the service then says to run
    ``python -m training export``).
    """
    entry = (source_card.get(EXPORTS_KEY) or {}).get(model_file)
    exports = target_card.setdefault(EXPORTS_KEY, {})
    exports.pop(model_file, None)
    if entry is not None and (Path(source_dir) / entry["file"]).is_file():
        shutil.copy(Path(source_dir) / entry["file"], Path(target_dir) / entry["file"])
        exports[model_file] = entry


def export_model(path: str | Path, weights: str = "float32") -> dict[str, Any]:
    """Write ``<stem>.onnx`` beside the ``.keras`` file ``path`` and return its card entry."""
    import keras

    path = Path(path)
    tolerance = tolerance_for(weights)
    model = keras.saving.load_model(path, compile=False)
    if not has_preprocess_layer(model):
        raise ValueError(f"{path}: no '{PREPROCESS_LAYER}' Rescaling layer; the model breaks the contract")
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[3] != 3 or shape[1] is None or shape[1] != shape[2]:
        raise ValueError(f"{path}: input shape {model.input_shape} is not (N, S, S, 3) with a fixed S")
    probe = probe_input(int(shape[1]))
    names = list(model.output_names)
    expected = named_outputs(model.predict_on_batch(probe), names)

    target = path.with_name(exported_file(path.name))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".onnx", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        spec = keras.InputSpec(shape=(None, *shape[1:]), dtype="float32", name=model.inputs[0].name)
        logging.getLogger("tf2onnx").setLevel(logging.WARNING)
        with warnings.catch_warnings():  # Keras' tf2onnx patch for NumPy 2 warns about np.object
            warnings.simplefilter("ignore", FutureWarning)
            model.export(str(tmp), format="onnx", verbose=False, input_signature=[spec])
        opset = _finish(tmp, names, weights, {"source": path.name, "source_sha256": sha256(path)})
        actual = _run_onnx(tmp, probe)
        diff = max(float(np.max(np.abs(actual[n] - expected[n]))) for n in names)
        if not diff <= tolerance:
            raise ExportParityError(
                f"{path.name}: the ONNX export differs from the Keras model by {diff:.3g} on the probe "
                f"(tolerance {tolerance:g}, weights {weights}); nothing written"
            )
        tmp.chmod(0o644)  # mkstemp makes it private; the service may run as another user
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    entry = {
        "file": target.name,
        "format": ONNX_FORMAT,
        "sha256": sha256(target),
        "version": file_version(target),
        "bytes": target.stat().st_size,
        "source_version": file_version(path),
        "weights": weights,
        "opset": opset,
        "outputs": names,
        "exporter": {
            pkg: metadata.version(pkg)
            for pkg in ("keras", "tensorflow", "tensorflow-cpu", "tf2onnx", "onnx")
            if _installed(pkg)
        },
        "probe": {"tolerance": tolerance, "max_abs_diff": diff, "outputs": probe_reference(expected)},
    }
    log.info(
        "exported %s -> %s (%.1f MiB, %s weights, probe difference %.2g)",
        path.name,
        target.name,
        entry["bytes"] / 2**20,
        weights,
        diff,
    )
    return entry


def _installed(package: str) -> bool:
    try:
        metadata.version(package)
    except metadata.PackageNotFoundError:
        return False
    return True


def _finish(path: Path, names: list[str], weights: str, properties: dict[str, str]) -> int:
    """Name the outputs as Keras does, store the weights as asked, check and rewrite ``path``; the opset."""
    import onnx

    model = onnx.load(str(path))
    _name_outputs(model.graph, names)
    if weights == "float16":
        _float16_weights(model.graph)
    for key, value in properties.items():
        onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, key: value})
    if model.ByteSize() > PROTOBUF_LIMIT:
        raise ValueError(f"{path.name}: the graph is over 2 GiB, more than one ONNX protocol buffer holds")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _name_outputs(graph: Any, names: list[str]) -> None:
    """Give the graph outputs the Keras output names (tf2onnx names a lone output ``Identity:0``)."""
    current = [o.name for o in graph.output]
    if sorted(current) == sorted(names):
        return
    if len(current) != 1 or len(names) != 1:
        raise ValueError(f"cannot match the ONNX outputs {current} to the Keras outputs {names}")
    old, new = current[0], names[0]
    for node in graph.node:
        node.output[:] = [new if n == old else n for n in node.output]
        node.input[:] = [new if n == old else n for n in node.input]
    graph.output[0].name = new


def _float16_weights(graph: Any) -> None:
    """Store float32 initializers of ``FLOAT16_MIN_ELEMENTS`` or more as float16 + ``Cast`` to float32."""
    from onnx import TensorProto, helper, numpy_helper

    kept, casts = [], []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < FLOAT16_MIN_ELEMENTS:
            kept.append(init)
            continue
        values = numpy_helper.to_array(init)
        if np.abs(values).max(initial=0.0) > FLOAT16_MAX:
            raise ValueError(f"weight {init.name} exceeds the float16 range; export with float32 weights")
        kept.append(numpy_helper.from_array(values.astype(np.float16), f"{init.name}__float16"))
        casts.append(
            helper.make_node(
                "Cast",
                [f"{init.name}__float16"],
                [init.name],
                to=TensorProto.FLOAT,
                name=f"{init.name}__to_float32",
            )
        )
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


def _run_onnx(path: Path, batch: np.ndarray) -> dict[str, np.ndarray]:
    """The ONNX file's outputs for ``batch`` in ONNX Runtime on the CPU, by output name."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {session.get_inputs()[0].name: batch})
    return {n: np.asarray(v, dtype=np.float32) for n, v in zip(names, values, strict=True)}
