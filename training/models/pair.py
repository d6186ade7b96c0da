"""A classifier and a segmenter trained apart, as one joint model: one call, both answers.

The served layout is one model file whose outputs are ``mask`` and ``tumour_probability``
(:mod:`contract.layout`). :func:`build_pair` puts two single-output networks behind one input so
that a classifier and a segmenter trained separately (at different input sizes, say) are served
like a joint network: the input is the larger of the two sizes, and the network that takes the
smaller size sees it through average pooling, which for a whole factor is exactly the area
resizing (:func:`contract.to_model_input`) it would have been given alone.
"""

from __future__ import annotations

import keras
from keras import layers

from contract.spec import MASK_OUTPUT, PROBABILITY_OUTPUT

PAIR_NAME = "pair"


def _single_output(model: keras.Model, role: str) -> None:
    outputs = model.outputs
    if len(outputs) != 1:
        raise ValueError(f"the {role} must have one output, {model.name} has {len(outputs)}")
    shape = tuple(outputs[0].shape[1:])
    if role == "classifier" and shape != (1,):
        raise ValueError(f"the classifier must output (N, 1) probabilities, {model.name} gives {shape}")
    if role == "segmenter" and (len(shape) != 3 or shape[-1] != 1):
        raise ValueError(f"the segmenter must output (N, S, S, 1) probabilities, {model.name} gives {shape}")


def _input_side(model: keras.Model, role: str) -> int:
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or shape[0] != shape[1] or shape[0] is None or shape[2] != 3:
        raise ValueError(f"the {role} must take fixed (S, S, 3) input, {model.name} takes {shape}")
    return int(shape[0])


def build_pair(classifier: keras.Model, segmenter: keras.Model, name: str = PAIR_NAME) -> keras.Model:
    """One model of input ``(N, S, S, 3)`` (S the larger input side of the two) with outputs
    ``{"mask": segmenter's (N, s, s, 1), "tumour_probability": classifier's (N, 1)}``.

    Each network is nested whole (its own ``preprocess`` layer included), under the names
    ``classifier`` and ``segmenter``; the smaller one's input is the larger one average-pooled by the
    whole factor between the two sides (a ``ValueError`` when the sides do not divide).
    """
    _single_output(classifier, "classifier")
    _single_output(segmenter, "segmenter")
    sides = {
        "classifier": _input_side(classifier, "classifier"),
        "segmenter": _input_side(segmenter, "segmenter"),
    }
    side = max(sides.values())
    for role, own in sides.items():
        if side % own:
            raise ValueError(f"input sides must divide: the {role} takes {own}, the pair {side}")
    inputs = keras.Input((side, side, 3), name="image")
    answers = {}
    for role, net in (("classifier", classifier), ("segmenter", segmenter)):
        nested = keras.Model(net.inputs, net.outputs[0], name=role)
        factor = side // sides[role]
        x = inputs if factor == 1 else layers.AveragePooling2D(factor, name=f"{role}_input")(inputs)
        answers[role] = nested(x)
    # the output layers carry the output names: exporters and runtimes name outputs by their layers
    mask = layers.Identity(name=MASK_OUTPUT)(answers["segmenter"])
    prob = layers.Identity(name=PROBABILITY_OUTPUT)(answers["classifier"])
    return keras.Model(inputs, {MASK_OUTPUT: mask, PROBABILITY_OUTPUT: prob}, name=name)
