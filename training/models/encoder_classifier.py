"""The slice classifier on the ResUNet encoder."""

from __future__ import annotations

import logging

import keras

from training.models.backbone import (
    ENCODER_PREFIXES,
    check_size,
    classification_head,
    copy_weights_by_name,
    model_input,
    resunet_encoder,
)

log = logging.getLogger(__name__)

ENCODER_CLASSIFIER_NAME = "resunet_encoder_classifier"


def build_encoder_classifier(
    image_size: int = 256, segmenter: str | None = None, dropout: float = 0.3
) -> keras.Model:
    """Slice classifier on the ResUNet's encoder (about 0.9M parameters).

    The segmenter's encoder (:func:`resunet_encoder`) and :func:`_classification_head`.
    ``segmenter`` is an optional path to a trained ``segmenter.keras`` whose encoder weights are
    copied in by layer name: pixel-level tumour features as the starting point, in place of
    ImageNet weights. Output ``(N, 1)``: probability that the slice shows tumour.
    """
    check_size(image_size, 16)
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    inputs, x = model_input(image_size)
    x, _ = resunet_encoder(x)
    model = keras.Model(inputs, classification_head(x, dropout), name=ENCODER_CLASSIFIER_NAME)
    if segmenter:
        copied = copy_weights_by_name(
            keras.saving.load_model(segmenter, compile=False), model, ENCODER_PREFIXES
        )
        if not copied:
            raise ValueError(f"{segmenter} has no ResUNet encoder layers to copy")
        log.info("copied the weights of %d encoder layers from %s", copied, segmenter)
    return model
