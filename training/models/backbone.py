"""The pieces every builder shares: the input and its in-model preprocessing, the size check, the
ResUNet residual block and encoder (the backbone of the segmenter, the joint model and the encoder
classifier), the classification head, and copying weights between models by layer name.

Every model takes the contract's input, ``(S, S, 3)`` float32 raw intensities in [0, 255], and
rescales it with its first layer (``Rescaling(1/255)`` named ``preprocess``), so the saved file
carries its own preprocessing. Layer names are the same wherever a piece is built, so weights move
between models by name.
"""

from __future__ import annotations

import keras
from keras import layers

from contract.spec import INPUT_SCALE, PREPROCESS_LAYER, PROBABILITY_OUTPUT

#: Names of the layers :func:`resunet_encoder` builds start with one of these.
ENCODER_PREFIXES = ("stem_", "enc", "bottleneck_")


def check_size(image_size: int, multiple: int) -> None:
    if not isinstance(image_size, int) or image_size < multiple or image_size % multiple:
        raise ValueError(f"image_size must be a positive multiple of {multiple}, got {image_size!r}")


def model_input(image_size: int) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    inputs = keras.Input((image_size, image_size, 3), name="image")
    return inputs, layers.Rescaling(INPUT_SCALE, name=PREPROCESS_LAYER)(inputs)


def residual_block(x, filters: int, name: str):
    """The original ResUNet residual block.

    1x1 conv, BN, ReLU, 3x3 conv, BN; a 1x1 conv + BN shortcut; add; ReLU.
    """
    shortcut = layers.Conv2D(filters, 1, kernel_initializer="he_normal", name=f"{name}_short_conv")(x)
    shortcut = layers.BatchNormalization(name=f"{name}_short_bn")(shortcut)
    x = layers.Conv2D(filters, 1, kernel_initializer="he_normal", name=f"{name}_conv1")(x)
    x = layers.BatchNormalization(name=f"{name}_bn1")(x)
    x = layers.Activation("relu", name=f"{name}_relu1")(x)
    x = layers.Conv2D(filters, 3, padding="same", kernel_initializer="he_normal", name=f"{name}_conv2")(x)
    x = layers.BatchNormalization(name=f"{name}_bn2")(x)
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(x)


def resunet_encoder(x, base_filters: int = 16):
    """The ResUNet's encoder: stem, residual blocks of 2x, 4x, 8x filters with max-pooling, and the
    16x bottleneck block. Returns the bottleneck output and the skips (stem, enc1, enc2, enc3).

    Its layer names are the same wherever it is built, so weights move between models by name.
    """
    f = base_filters
    for i in (1, 2):
        x = layers.Conv2D(
            f, 3, padding="same", activation="relu", kernel_initializer="he_normal", name=f"stem_conv{i}"
        )(x)
        x = layers.BatchNormalization(name=f"stem_bn{i}")(x)
    skips = [x]
    x = layers.MaxPooling2D(2, name="stem_pool")(x)
    for level, mult in enumerate((2, 4, 8), start=1):
        x = residual_block(x, f * mult, name=f"enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level}_pool")(x)
    return residual_block(x, f * 16, name="bottleneck"), skips


def classification_head(x, dropout: float):
    """Global average and max pooling concatenated (max keeps small lesions visible), dropout, dense sigmoid."""
    x = layers.Concatenate(name="pool")(
        [layers.GlobalAveragePooling2D(name="avg_pool")(x), layers.GlobalMaxPooling2D(name="max_pool")(x)]
    )
    x = layers.Dropout(dropout, name="dropout")(x)
    return layers.Dense(1, activation="sigmoid", name=PROBABILITY_OUTPUT)(x)


def copy_weights_by_name(
    source: keras.Model, target: keras.Model, prefixes: tuple[str, ...] | None = None
) -> int:
    """Copy the weights of every layer of ``target`` that ``source`` has under the same name (and,
    with ``prefixes``, whose name starts with one of them). Returns the number of layers copied."""
    layers_by_name = {layer.name: layer for layer in source.layers}
    copied = 0
    for layer in target.layers:
        if (
            layer.weights
            and layer.name in layers_by_name
            and (prefixes is None or layer.name.startswith(prefixes))
        ):
            layer.set_weights(layers_by_name[layer.name].get_weights())
            copied += 1
    return copied
