"""The transfer-learning classifier of the reference notebooks: ResNet50 and a dense head."""

from __future__ import annotations

import logging

import keras
from keras import layers

from training.models.backbone import check_size, model_input

log = logging.getLogger(__name__)


def build_resnet50_classifier(image_size: int = 256, weights: str | None = None) -> keras.Model:
    """The original transfer-learning classifier: ResNet50 + head.

    Head: 4x4 average pool, flatten, (dense 256 ReLU + dropout 0.3) twice, 2-way softmax; output
    ``(N, 2)`` with the tumour probability at index 1. ``weights`` is an optional path to ResNet50
    ImageNet weights (``*_notop.h5``); they cannot be downloaded here, so the default is random
    initialisation. ResNet50 expects caffe-style inputs; the in-model preprocessing here is the
    shared ``Rescaling(1/255)``, so pretrained weights are fine-tuned rather than used as is.
    """
    check_size(image_size, 32)
    if image_size < 128:
        raise ValueError(
            f"image_size must be at least 128 for the 4x4 pooled ResNet50 head, got {image_size}"
        )
    inputs, x = model_input(image_size)
    base = keras.applications.ResNet50(
        include_top=False, weights=None, input_shape=(image_size, image_size, 3)
    )
    if weights:
        base.load_weights(weights)
        log.info("loaded ResNet50 weights from %s", weights)
    x = base(x)
    x = layers.AveragePooling2D(pool_size=4, name="head_pool")(x)
    x = layers.Flatten(name="head_flatten")(x)
    for i in (1, 2):
        x = layers.Dense(256, activation="relu", name=f"head_dense{i}")(x)
        x = layers.Dropout(0.3, name=f"head_dropout{i}")(x)
    outputs = layers.Dense(2, activation="softmax", name="tumour_softmax")(x)
    return keras.Model(inputs, outputs, name="resnet50_classifier")
