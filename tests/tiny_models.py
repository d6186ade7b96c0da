"""Tiny Keras models that follow contract/spec.py, for tests that start the real service.

A tiny models folder has the served layout (:mod:`contract.layout`): one file, ``joint.keras``,
whose one call gives both outputs. The weights are set by hand (no training), so the answers are
known: both outputs look at the FLAIR channel only and compare it with a cut-off ``c`` in 0..1 of
the 0..255 range.

- ``mask``: pixel probability = sigmoid(20 * (FLAIR / 255 - c)) -> mask = FLAIR > 255 c;
- ``tumour_probability``: sigmoid(20 * (pooled FLAIR / 255 - c)), the FLAIR channel pooled over
  the slice by its mean (``pooling="mean"``) or its maximum (``"max"``).

These answers are mirror-symmetric; :func:`build_random_joint` gives a joint model that is not (random
weights), for tests of test-time augmentation.

:data:`SYNTHETIC` (mean, c = 0.5) suits the synthetic slices of tests/service/samples.py: a slice is
"tumour" when its mean FLAIR is above 127.5. :data:`BRAIN` (max, c = 0.3) suits real LGG slices: an
empty (black) slice is "no tumour", a brain slice is "tumour" and its mask the brighter FLAIR.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from contract.spec import (
    CARD_FILE,
    FLAIR_FILE,
    INPUT_SCALE,
    JOINT_FILE,
    MASK_OUTPUT,
    PREPROCESS_LAYER,
    PROBABILITY_OUTPUT,
)

TINY_SIZE = 32
GAIN = 20.0

TINY_CARD: dict[str, Any] = {
    "models": {
        "classifier": {
            "file": JOINT_FILE,
            "output_name": PROBABILITY_OUTPUT,
            "name": "tiny-classifier",
            "architecture": "tiny-cnn",
            "parameters": 0,
            "threshold": 0.5,
            "input": {"size": TINY_SIZE},
            "metrics": {"test": {"roc_auc": 0.97, "accuracy": 0.93}, "validation": {"roc_auc": 0.95}},
        },
        "segmenter": {
            "file": JOINT_FILE,
            "output_name": MASK_OUTPUT,
            "name": "tiny-segmenter",
            "architecture": "tiny-fcn",
            "parameters": 0,
            "threshold": 0.5,
            "input": {"size": TINY_SIZE},
            "metrics": {"test": {"dice": 0.81}, "validation": {"dice": 0.8}},
        },
    },
    "data": {"name": "synthetic"},
    # the gates of the served pair: /analyze masks the slices the classifier calls tumour, /volume every mask
    "gate": "classifier",
    "volume_gate": "mask",
}


@dataclass(frozen=True)
class Rule:
    """What the tiny models call tumour: FLAIR above ``cutoff`` (0..1), pooled by ``pooling``."""

    cutoff: float
    pooling: Literal["mean", "max"]


SYNTHETIC = Rule(cutoff=0.5, pooling="mean")
BRAIN = Rule(cutoff=0.3, pooling="max")


def _flair_features(keras: Any, x: Any) -> Any:
    """A 3x3 conv whose first filter copies FLAIR (centre tap), the other filters zero."""
    conv = keras.layers.Conv2D(4, 3, padding="same", name="features")
    y = conv(x)
    kernel = np.zeros((3, 3, 3, 4), np.float32)
    kernel[1, 1, 1, 0] = 1.0
    conv.set_weights([kernel, np.zeros(4, np.float32)])
    return y


def _head_weights(rule: Rule) -> list[np.ndarray]:
    """``GAIN * (feature 0 - cutoff)``: the weights of a 4 -> 1 head reading FLAIR only."""
    return [np.array([[GAIN], [0.0], [0.0], [0.0]], np.float32), np.array([-GAIN * rule.cutoff], np.float32)]


def _tiny_joint(size: int, rule: Rule) -> Any:
    """The one-file model of ``rule``: outputs ``mask`` and ``tumour_probability`` (module docstring)."""
    import keras

    pooling = {"mean": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D}[
        rule.pooling
    ]
    inputs = keras.Input((size, size, 3), name="image")
    features = _flair_features(keras, keras.layers.Rescaling(INPUT_SCALE, name=PREPROCESS_LAYER)(inputs))
    head = keras.layers.Dense(1, activation="sigmoid", name=PROBABILITY_OUTPUT)  # layer names = output names
    out = keras.layers.Conv2D(1, 1, activation="sigmoid", name=MASK_OUTPUT)
    model = keras.Model(
        inputs,
        {MASK_OUTPUT: out(features), PROBABILITY_OUTPUT: head(pooling(name="pool")(features))},
        name="tiny_joint",
    )
    head.set_weights(_head_weights(rule))
    kernel, bias = _head_weights(rule)
    out.set_weights([kernel.reshape(1, 1, 4, 1), bias])
    return model


def build_tiny_models(
    models_dir: Path, size: int = TINY_SIZE, card: dict[str, Any] | None = None, rule: Rule = SYNTHETIC
) -> Path:
    """Write ``joint.keras``, ``model_card.json`` (the served layout) and the ONNX export
    (:mod:`training.export`) into ``models_dir``.

    ``card``: the model card to write (default :data:`TINY_CARD`, its parameter counts filled in).
    """
    from training.export import export_folder

    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    model = _tiny_joint(size, rule)
    model.save(models_dir / JOINT_FILE)
    card = json.loads(json.dumps(TINY_CARD if card is None else card))
    for entry in (card.get("models") or {}).values():
        entry["parameters"] = model.count_params()
    (models_dir / CARD_FILE).write_text(json.dumps(card, indent=2))
    export_folder(models_dir)  # the ONNX file the ONNX runtimes serve, named in the card
    return models_dir


def build_tiny_joint(
    models_dir: Path,
    size: int = TINY_SIZE,
    rule: Rule = SYNTHETIC,
    flair_rule: Rule | None = None,
    gate: str = "classifier",
    thresholds: tuple[float, float] = (0.5, 0.5),
) -> Path:
    """A models folder whose ``joint.keras`` answers ``rule`` and, with ``flair_rule``, a ``flair.keras``
    answers FLAIR-only input; the card's entries (``thresholds``: classifier, segmenter; the FLAIR
    path's are 0.1 lower, so its answers tell which path ran), ``gate``, and the ONNX exports."""
    from training.export import export_folder

    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    _tiny_joint(size, rule).save(models_dir / JOINT_FILE)
    flair_file = JOINT_FILE
    if flair_rule is not None:
        _tiny_joint(size, flair_rule).save(models_dir / FLAIR_FILE)
        flair_file = FLAIR_FILE
    card = {
        "gate": gate,
        "models": {
            role: {
                "name": f"tiny-{role}",
                "file": JOINT_FILE,
                "output_name": output,
                "threshold": t,
                "flair": {"file": flair_file, "threshold": round(t - 0.1, 3)},
            }
            for role, output, t in (
                ("classifier", PROBABILITY_OUTPUT, thresholds[0]),
                ("segmenter", MASK_OUTPUT, thresholds[1]),
            )
        },
    }
    (models_dir / CARD_FILE).write_text(json.dumps(card, indent=2))
    export_folder(models_dir)
    return models_dir


def build_random_joint(models_dir: Path, size: int = TINY_SIZE, tta: str | None = None) -> Path:
    """A models folder of one joint model with random weights (seed 0, :func:`training.models.build_joint`):
    not mirror-symmetric, so flip test-time augmentation changes its answers. The card names the file
    and outputs of each role and, given ``tta``, its ``"tta"`` (:data:`contract.tta.TTA_KEY`); no export."""
    import keras

    from contract.tta import TTA_KEY
    from training.models import build_joint

    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    build_joint(size, base_filters=4).save(models_dir / JOINT_FILE)
    outputs = {"classifier": PROBABILITY_OUTPUT, "segmenter": MASK_OUTPUT}
    card: dict[str, Any] = {
        "models": {
            role: {"name": f"random-{role}", "file": JOINT_FILE, "output_name": output}
            for role, output in outputs.items()
        }
    }
    if tta is not None:
        card[TTA_KEY] = tta
    (models_dir / CARD_FILE).write_text(json.dumps(card, indent=2))
    return models_dir
