"""The joint model: the ResUNet with a classification head on its bottleneck (one pass, both answers)."""

from __future__ import annotations

import keras

from contract.spec import MASK_OUTPUT, PROBABILITY_OUTPUT
from training.models.backbone import classification_head
from training.models.encoder_classifier import ENCODER_CLASSIFIER_NAME
from training.models.resunet import build_resunet


def build_joint(image_size: int = 256, base_filters: int = 16, dropout: float = 0.3) -> keras.Model:
    """The ResUNet with a classification head on its bottleneck, trained on mask and slice label at once.

    Outputs ``{"mask": (N, S, S, 1) per-pixel sigmoid, "tumour_probability": (N, 1) sigmoid}``. Its
    layer names are those of :func:`build_resunet` and :func:`build_encoder_classifier`, so
    :func:`split_joint` cuts it into the two served models and a trained segmenter initialises it
    by name.
    """
    segmenter = build_resunet(image_size, base_filters)
    bottleneck = segmenter.get_layer("bottleneck_out").output
    head = classification_head(bottleneck, dropout)
    return keras.Model(
        segmenter.inputs, {MASK_OUTPUT: segmenter.outputs[0], PROBABILITY_OUTPUT: head}, name="joint"
    )


def split_joint(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """The joint model's two served models, sharing its layers: (segmenter, encoder classifier)."""
    inputs = model.inputs
    segmenter = keras.Model(inputs, model.get_layer(MASK_OUTPUT).output, name="resunet")
    classifier = keras.Model(inputs, model.get_layer(PROBABILITY_OUTPUT).output, name=ENCODER_CLASSIFIER_NAME)
    return segmenter, classifier
