"""A compact CNN slice classifier."""

from __future__ import annotations

import keras
from keras import layers

from training.models.backbone import check_size, classification_head, model_input


def build_compact_classifier(
    image_size: int = 256, base_filters: int = 32, dropout: float = 0.3
) -> keras.Model:
    """Compact CNN slice classifier (about 1.2M parameters with ``base_filters=32``).

    A strided stem, four stages of two 3x3 conv + BN + ReLU with max-pooling (1x, 2x, 4x, 8x
    filters), global average and max pooling concatenated (max keeps small lesions visible),
    dropout, and a dense sigmoid. Output ``(N, 1)``: probability that the slice shows tumour.
    """
    check_size(image_size, 32)
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    inputs, x = model_input(image_size)
    x = layers.Conv2D(base_filters, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    for stage, mult in enumerate((1, 2, 4, 8), start=1):
        for i in (1, 2):
            x = layers.Conv2D(
                base_filters * mult, 3, padding="same", use_bias=False, name=f"stage{stage}_conv{i}"
            )(x)
            x = layers.BatchNormalization(name=f"stage{stage}_bn{i}")(x)
            x = layers.Activation("relu", name=f"stage{stage}_relu{i}")(x)
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
    return keras.Model(inputs, classification_head(x, dropout), name="compact_classifier")
