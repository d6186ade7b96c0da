"""Tiny Keras models that follow contract/spec.py, for tests that start the real service.

The weights are set by hand (no training), so the answers are known: both models look at the
FLAIR channel only and compare it with a cut-off ``c`` in 0..1 of the 0..255 range.

- segmenter: pixel probability = sigmoid(20 * (FLAIR / 255 - c)) -> mask = FLAIR > 255 c;
- classifier: probability = sigmoid(20 * (pooled FLAIR / 255 - c)), the FLAIR channel pooled over
  the slice by its mean (``pooling="mean"``) or its maximum (``"max"``).

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

from contract.spec import CARD_FILE, CLASSIFIER_FILE, INPUT_SCALE, PREPROCESS_LAYER, SEGMENTER_FILE

TINY_SIZE = 32
GAIN = 20.0

TINY_CARD: dict[str, Any] = {
    "models": {
        "classifier": {
            "name": "tiny-classifier",
            "architecture": "tiny-cnn",
            "parameters": 0,
            "threshold": 0.5,
            "input": {"size": TINY_SIZE},
            "metrics": {"test": {"roc_auc": 0.97, "accuracy": 0.93}, "validation": {"roc_auc": 0.95}},
        },
        "segmenter": {
            "name": "tiny-segmenter",
            "architecture": "tiny-fcn",
            "parameters": 0,
            "threshold": 0.5,
            "input": {"size": TINY_SIZE},
            "metrics": {"test": {"dice": 0.81}, "validation": {"dice": 0.8}},
        },
    },
    "data": {"name": "synthetic"},
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


def build_tiny_models(
    models_dir: Path, size: int = TINY_SIZE, card: dict[str, Any] | None = None, rule: Rule = SYNTHETIC
) -> Path:
    """Write classifier.keras, segmenter.keras, model_card.json (contract layout) and the ONNX exports
    (:mod:`training.export`) into ``models_dir``.

    ``card``: the model card to write (default :data:`TINY_CARD`, its parameter counts filled in).
    """
    import keras

    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    pooling = {"mean": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D}[
        rule.pooling
    ]

    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(INPUT_SCALE, name=PREPROCESS_LAYER)(inputs)
    pooled = pooling(name="pool")(_flair_features(keras, x))
    head = keras.layers.Dense(1, activation="sigmoid", name="tumour")
    classifier = keras.Model(inputs, head(pooled), name="tiny_classifier")
    head.set_weights(_head_weights(rule))
    classifier.save(models_dir / CLASSIFIER_FILE)

    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(INPUT_SCALE, name=PREPROCESS_LAYER)(inputs)
    out = keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask")
    segmenter = keras.Model(inputs, out(_flair_features(keras, x)), name="tiny_segmenter")
    kernel, bias = _head_weights(rule)
    out.set_weights([kernel.reshape(1, 1, 4, 1), bias])
    segmenter.save(models_dir / SEGMENTER_FILE)

    card = json.loads(json.dumps(TINY_CARD if card is None else card))
    if card.get("models"):
        card["models"]["classifier"]["parameters"] = classifier.count_params()
        card["models"]["segmenter"]["parameters"] = segmenter.count_params()
    (models_dir / CARD_FILE).write_text(json.dumps(card, indent=2))
    from training.export import export_folder

    export_folder(models_dir)  # the ONNX files the ONNX runtimes serve, named in the card
    return models_dir


def build_tiny_joint(
    models_dir: Path, size: int = TINY_SIZE, rule: Rule = SYNTHETIC, flair_rule: Rule | None = None,
    gate: str = "classifier", thresholds: tuple[float, float] = (0.5, 0.5),
) -> Path:
    """A joint models folder (:mod:`contract.layout`): ``joint.keras`` whose one pass gives both answers of
    ``rule`` (outputs ``mask`` and ``tumour_probability``), with ``flair_rule`` a ``flair.keras`` answering
    FLAIR-only input, the card's entries (``thresholds``: classifier, segmenter; the FLAIR path's are
    0.1 lower, so its answers tell which path ran), ``gate``, and the ONNX exports."""
    import keras

    from contract.spec import FLAIR_FILE, JOINT_FILE, MASK_OUTPUT, PROBABILITY_OUTPUT
    from training.export import export_folder

    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)

    def joint(rule: Rule, file: str) -> None:
        pooling = {"mean": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D}[rule.pooling]
        inputs = keras.Input((size, size, 3), name="image")
        features = _flair_features(keras, keras.layers.Rescaling(INPUT_SCALE, name=PREPROCESS_LAYER)(inputs))
        head = keras.layers.Dense(1, activation="sigmoid", name=PROBABILITY_OUTPUT)  # layer names = output names
        out = keras.layers.Conv2D(1, 1, activation="sigmoid", name=MASK_OUTPUT)
        model = keras.Model(inputs, {MASK_OUTPUT: out(features), PROBABILITY_OUTPUT: head(pooling(name="pool")(features))},
                            name="tiny_joint")
        head.set_weights(_head_weights(rule))
        kernel, bias = _head_weights(rule)
        out.set_weights([kernel.reshape(1, 1, 4, 1), bias])
        model.save(models_dir / file)

    joint(rule, JOINT_FILE)
    flair_file = JOINT_FILE
    if flair_rule is not None:
        joint(flair_rule, FLAIR_FILE)
        flair_file = FLAIR_FILE
    card = {"gate": gate, "models": {
        role: {"name": f"tiny-{role}", "file": JOINT_FILE, "output_name": output, "threshold": t,
               "flair": {"file": flair_file, "threshold": round(t - 0.1, 3)}}
        for role, output, t in (("classifier", PROBABILITY_OUTPUT, thresholds[0]), ("segmenter", MASK_OUTPUT, thresholds[1]))
    }}
    (models_dir / CARD_FILE).write_text(json.dumps(card, indent=2))
    export_folder(models_dir)
    return models_dir
