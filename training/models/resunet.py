"""The ResUNet segmenter (the original architecture of the LGG notebooks)."""

from __future__ import annotations

import keras
from keras import layers

from contract.spec import MASK_OUTPUT
from training.models.backbone import check_size, model_input, residual_block, resunet_encoder


def build_resunet(image_size: int = 256, base_filters: int = 16) -> keras.Model:
    """The original ResUNet segmenter (1,210,513 parameters with ``base_filters=16``).

    A stem of two 3x3 convolutions (``base_filters``), residual blocks of 2x, 4x, 8x filters with
    max-pooling, a 16x bottleneck block, and a decoder of 2x upsampling, concatenation with the
    skip and residual blocks of 8x, 4x, 2x, 1x filters. Output ``(S, S, 1)``: per-pixel sigmoid
    probability of FLAIR abnormality (tumour).
    """
    check_size(image_size, 16)
    if base_filters < 1:
        raise ValueError(f"base_filters must be positive, got {base_filters}")
    f = base_filters
    inputs, x = model_input(image_size)
    x, skips = resunet_encoder(x, f)
    for level, (mult, skip) in enumerate(zip((8, 4, 2, 1), reversed(skips), strict=True), start=1):
        x = layers.UpSampling2D(2, name=f"dec{level}_up")(x)
        x = layers.Concatenate(name=f"dec{level}_concat")([x, skip])
        x = residual_block(x, f * mult, name=f"dec{level}")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", name=MASK_OUTPUT)(x)
    return keras.Model(inputs, outputs, name="resunet")
