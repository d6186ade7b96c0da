"""The served ensemble: fold models averaged inside one model file (``python -m training ensemble``).

``build_ensemble`` wraps joint fold models (outputs ``mask`` and ``tumour_probability``) as the
members of one Keras model whose outputs are the members' mean probabilities, under the same two
names: one call per slice, whatever the member count. Flip test-time augmentation, when chosen, is
not built into the file: the card's top-level ``"tta"`` (:data:`contract.tta.TTA_KEY`) names it and
the service (``MRI_TTA=card``) and :class:`training.predictor.FolderPredictor` apply it around each
call (:mod:`contract.tta`). ``save_compact`` stores a model
with its weights rounded to float16 precision and the file compressed (LZMA inside the ``.keras``
zip): about half the bytes of float32, still a plain ``.keras`` file computed in float32.

``write_served`` writes the served folder from the cross-validation choices in its card
(:mod:`training.choose`): ``joint.keras`` (three-sequence members), ``flair.keras`` when FLAIR
members were chosen, their ONNX exports (:mod:`training.export`, float16 initializers holding the
same values) and the card's model entries that the service reads (name, file, output name,
thresholds and post-processing of each input path) and its ``"tta"``.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from pathlib import Path

import keras
import numpy as np
from keras import layers

from contract import (
    FLAIR_FILE,
    JOINT_FILE,
    MASK_OUTPUT,
    PROBABILITY_OUTPUT,
    file_version,
    read_card,
    write_card,
)
from contract.layout import OUTPUT_KEY
from contract.tta import TTA_KEY
from contract.volume import POSTPROCESS_KEY
from contract.volume_window import TARGETS_KEY
from training.export import export_folder

log = logging.getLogger(__name__)


def build_ensemble(members: list[keras.Model], name: str = "joint_ensemble") -> keras.Model:
    """One model whose outputs are the mean of ``members``' ``mask`` and ``tumour_probability``."""
    if not members:
        raise ValueError("an ensemble needs at least one member")
    shapes = {tuple(m.input_shape[1:]) for m in members}
    if len(shapes) != 1:
        raise ValueError(f"members take different inputs: {sorted(shapes)}")
    for m in members:
        if not isinstance(m.output, dict) or set(m.output) != {MASK_OUTPUT, PROBABILITY_OUTPUT}:
            raise ValueError(
                f"{m.name} is not a joint model (outputs {MASK_OUTPUT!r}, {PROBABILITY_OUTPUT!r})"
            )
    inputs = keras.Input(shapes.pop(), name="image")
    wrapped = [keras.Model(m.inputs, m.output, name=f"member{i + 1}") for i, m in enumerate(members)]
    outs = [w(inputs) for w in wrapped]
    # the output layers carry the output names: exporters and runtimes name outputs by their layers
    if len(outs) == 1:
        mask = layers.Identity(name=MASK_OUTPUT)(outs[0][MASK_OUTPUT])
        prob = layers.Identity(name=PROBABILITY_OUTPUT)(outs[0][PROBABILITY_OUTPUT])
    else:
        mask = layers.Average(name=MASK_OUTPUT)([o[MASK_OUTPUT] for o in outs])
        prob = layers.Average(name=PROBABILITY_OUTPUT)([o[PROBABILITY_OUTPUT] for o in outs])
    return keras.Model(inputs, {MASK_OUTPUT: mask, PROBABILITY_OUTPUT: prob}, name=name)


def save_compact(model: keras.Model, path: str | Path) -> Path:
    """Save ``model`` with float16-precision weights in an LZMA-compressed ``.keras`` file (module docstring)."""
    model.set_weights(
        [w.astype(np.float16).astype(w.dtype) if w.dtype == np.float32 else w for w in model.get_weights()]
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / path.name
        model.save(plain)
        with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_LZMA) as dst:
            for item in src.infolist():
                dst.writestr(item.filename, src.read(item.filename))
    return path


def describe(model: keras.Model, members: int) -> dict:
    """The card's ``architecture`` and ``parameters`` of a served ensemble (``GET /v2/models``)."""
    return {
        "architecture": f"joint ResUNet + tumour head, {members} member{'s' if members > 1 else ''}",
        "parameters": int(model.count_params()),
    }


def fold_models(recipe_dir: str | Path, count: int) -> list[keras.Model]:
    """The first ``count`` fold models of a recipe (fold1, fold2, ...)."""
    paths = [Path(recipe_dir) / f"fold{i + 1}" / JOINT_FILE for i in range(count)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ValueError(f"missing fold models: {missing}")
    return [keras.saving.load_model(p, compile=False) for p in paths]


def write_served(runs: str | Path, models_dir: str | Path, members: int, out_dir: str | Path) -> dict:
    """Build and save the ensemble(s) of ``members`` folds with the choices in ``models_dir``'s card, and their
    card entries, into ``out_dir`` (a candidate folder for ``python -m training promote``, or the folder itself);
    returns the card."""
    card = read_card(models_dir)
    cv = card.get("cross_validation")
    if not cv:
        raise ValueError(f"{models_dir} has no cross-validation choices: run python -m training choose first")
    if not 1 <= members <= cv["folds"]["k"]:
        raise ValueError(f"members must be in 1..{cv['folds']['k']}, got {members}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "three": JOINT_FILE,
        "flair": FLAIR_FILE if cv["recipes"]["flair"] != cv["recipes"]["three"] else JOINT_FILE,
    }
    for path_name in dict.fromkeys(files):
        recipe = cv["recipes"][path_name]
        if path_name == "flair" and files["flair"] == JOINT_FILE:
            continue
        model = build_ensemble(fold_models(Path(runs) / recipe, members))
        if path_name == "three":
            described = describe(model, members)
        saved = save_compact(model, out / files[path_name])
        log.info(
            "saved %s: %d members of %s (%.1f MiB)", saved, members, recipe, saved.stat().st_size / 2**20
        )
    if files["flair"] == JOINT_FILE and (out / FLAIR_FILE).exists():
        (out / FLAIR_FILE).unlink()
    paths = cv["paths"]
    roles = {
        "classifier": (PROBABILITY_OUTPUT, lambda p: {"threshold": p["classifier"]["threshold"]}),
        "segmenter": (
            MASK_OUTPUT,
            lambda p: {
                "threshold": p["segmenter"]["threshold"],
                "postprocess": p["segmenter"]["postprocess"],
            },
        ),
    }
    card["models"] = {
        role: {
            "name": f"lgg-{role}",
            "file": files["three"],
            OUTPUT_KEY: output,
            **described,
            "version": file_version(out / files["three"]),
            **chosen(paths["three"]),
            "flair": {
                "file": files["flair"],
                "version": file_version(out / files["flair"]),
                **chosen(paths["flair"]),
            },
        }
        for role, (output, chosen) in roles.items()
    }
    card["ensemble"] = {
        "members": members,
        "folds": [f"fold{i + 1}" for i in range(members)],
        "recipes": cv["recipes"],
        "storage": "float16-precision weights, LZMA-compressed .keras",
    }
    card[TTA_KEY] = cv["tta"]  # applied around each call by the service (MRI_TTA=card) and FolderPredictor
    card["gate"] = cv["gate"]
    card[TARGETS_KEY] = list(cv["volume"]["intensity_targets"])  # read by the service's volume window
    card[POSTPROCESS_KEY] = cv["volume"]["postprocess"]  # read by POST /volume
    for key in ("training", "data"):
        if key in cv:
            card[key] = cv[key]
    # what described the models of the folder the choices came from: not this candidate's
    for stale in (
        "exports",
        "wrapped",
        "volume_gate",
        "promotion",
        "pipeline",
        "evaluation",
        "volume",
        "limitations",
    ):
        card.pop(stale, None)
    for old in out.glob("*.onnx"):
        old.unlink()
    write_card(out, card)
    # the ONNX files the service runs by default: float16 initializers, the very values of the .keras file
    export_folder(out, weights="float16", files=sorted(set(files.values())))
    return read_card(out)
