"""Keras 3 builders for the segmenter (ResUNet) and the slice classifier.

Every model takes the contract's input, ``(S, S, 3)`` float32 raw intensities in [0, 255], and
rescales it with its first layer (``Rescaling(1/255)`` named ``preprocess``), so the saved file
carries its own preprocessing.
"""

from __future__ import annotations

import logging

import keras
from keras import layers

from contract.spec import INPUT_SCALE, PREPROCESS_LAYER

log = logging.getLogger(__name__)

CLASSIFIER_ARCHITECTURES = ("compact", "resunet_encoder", "resnet50")
#: Names of the layers :func:`resunet_encoder` builds start with one of these.
ENCODER_PREFIXES = ("stem_", "enc", "bottleneck_")
ENCODER_CLASSIFIER_NAME = "resunet_encoder_classifier"


def _check_size(image_size: int, multiple: int) -> None:
    if not isinstance(image_size, int) or image_size < multiple or image_size % multiple:
        raise ValueError(f"image_size must be a positive multiple of {multiple}, got {image_size!r}")


def _inputs(image_size: int) -> tuple[keras.KerasTensor, keras.KerasTensor]:
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


def build_resunet(image_size: int = 256, base_filters: int = 16) -> keras.Model:
    """The original ResUNet segmenter (1,210,513 parameters with ``base_filters=16``).

    A stem of two 3x3 convolutions (``base_filters``), residual blocks of 2x, 4x, 8x filters with
    max-pooling, a 16x bottleneck block, and a decoder of 2x upsampling, concatenation with the
    skip and residual blocks of 8x, 4x, 2x, 1x filters. Output ``(S, S, 1)``: per-pixel sigmoid
    probability of FLAIR abnormality (tumour).
    """
    _check_size(image_size, 16)
    if base_filters < 1:
        raise ValueError(f"base_filters must be positive, got {base_filters}")
    f = base_filters
    inputs, x = _inputs(image_size)
    x, skips = resunet_encoder(x, f)
    for level, (mult, skip) in enumerate(zip((8, 4, 2, 1), reversed(skips)), start=1):
        x = layers.UpSampling2D(2, name=f"dec{level}_up")(x)
        x = layers.Concatenate(name=f"dec{level}_concat")([x, skip])
        x = residual_block(x, f * mult, name=f"dec{level}")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
    return keras.Model(inputs, outputs, name="resunet")


def build_compact_classifier(
    image_size: int = 256, base_filters: int = 32, dropout: float = 0.3
) -> keras.Model:
    """Compact CNN slice classifier (about 1.2M parameters with ``base_filters=32``).

    A strided stem, four stages of two 3x3 conv + BN + ReLU with max-pooling (1x, 2x, 4x, 8x
    filters), global average and max pooling concatenated (max keeps small lesions visible),
    dropout, and a dense sigmoid. Output ``(N, 1)``: probability that the slice shows tumour.
    """
    _check_size(image_size, 32)
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    inputs, x = _inputs(image_size)
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
    return keras.Model(inputs, _classification_head(x, dropout), name="compact_classifier")


def _classification_head(x, dropout: float):
    """Global average and max pooling concatenated (max keeps small lesions visible), dropout, dense sigmoid."""
    x = layers.Concatenate(name="pool")(
        [layers.GlobalAveragePooling2D(name="avg_pool")(x), layers.GlobalMaxPooling2D(name="max_pool")(x)]
    )
    x = layers.Dropout(dropout, name="dropout")(x)
    return layers.Dense(1, activation="sigmoid", name="tumour_probability")(x)


def build_encoder_classifier(
    image_size: int = 256, segmenter: str | None = None, dropout: float = 0.3
) -> keras.Model:
    """Slice classifier on the ResUNet's encoder (about 0.9M parameters).

    The segmenter's encoder (:func:`resunet_encoder`) and :func:`_classification_head`.
    ``segmenter`` is an optional path to a trained ``segmenter.keras`` whose encoder weights are
    copied in by layer name: pixel-level tumour features as the starting point, in place of
    ImageNet weights. Output ``(N, 1)``: probability that the slice shows tumour.
    """
    _check_size(image_size, 16)
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    inputs, x = _inputs(image_size)
    x, _ = resunet_encoder(x)
    model = keras.Model(inputs, _classification_head(x, dropout), name=ENCODER_CLASSIFIER_NAME)
    if segmenter:
        copied = copy_weights_by_name(
            keras.saving.load_model(segmenter, compile=False), model, ENCODER_PREFIXES
        )
        if not copied:
            raise ValueError(f"{segmenter} has no ResUNet encoder layers to copy")
        log.info("copied the weights of %d encoder layers from %s", copied, segmenter)
    return model


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


def build_joint(image_size: int = 256, base_filters: int = 16, dropout: float = 0.3) -> keras.Model:
    """The ResUNet with a classification head on its bottleneck, trained on mask and slice label at once.

    Outputs ``{"mask": (N, S, S, 1) per-pixel sigmoid, "tumour_probability": (N, 1) sigmoid}``. Its
    layer names are those of :func:`build_resunet` and :func:`build_encoder_classifier`, so
    :func:`split_joint` cuts it into the two served models and a trained segmenter initialises it
    by name.
    """
    segmenter = build_resunet(image_size, base_filters)
    bottleneck = segmenter.get_layer("bottleneck_out").output
    head = _classification_head(bottleneck, dropout)
    return keras.Model(
        segmenter.inputs, {"mask": segmenter.outputs[0], "tumour_probability": head}, name="joint"
    )


def split_joint(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """The joint model's two served models, sharing its layers: (segmenter, encoder classifier)."""
    inputs = model.inputs
    segmenter = keras.Model(inputs, model.get_layer("mask").output, name="resunet")
    classifier = keras.Model(
        inputs, model.get_layer("tumour_probability").output, name=ENCODER_CLASSIFIER_NAME
    )
    return segmenter, classifier


def build_resnet50_classifier(image_size: int = 256, weights: str | None = None) -> keras.Model:
    """The original transfer-learning classifier: ResNet50 + head.

    Head: 4x4 average pool, flatten, (dense 256 ReLU + dropout 0.3) twice, 2-way softmax; output
    ``(N, 2)`` with the tumour probability at index 1. ``weights`` is an optional path to ResNet50
    ImageNet weights (``*_notop.h5``); they cannot be downloaded here, so the default is random
    initialisation. ResNet50 expects caffe-style inputs; the in-model preprocessing here is the
    shared ``Rescaling(1/255)``, so pretrained weights are fine-tuned rather than used as is.
    """
    _check_size(image_size, 32)
    if image_size < 128:
        raise ValueError(
            f"image_size must be at least 128 for the 4x4 pooled ResNet50 head, got {image_size}"
        )
    inputs, x = _inputs(image_size)
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


def build_classifier(
    architecture: str = "compact", image_size: int = 256, weights: str | None = None
) -> keras.Model:
    """Build a classifier by name: ``compact``, ``resunet_encoder`` or ``resnet50`` (see the builders).

    ``weights`` is the starting point of the backbone: ResNet50 ImageNet weights (``*_notop.h5``) for
    ``resnet50``, a trained ``segmenter.keras`` for ``resunet_encoder``; ``compact`` takes none.
    """
    if architecture not in CLASSIFIER_ARCHITECTURES:
        raise ValueError(f"architecture must be one of {CLASSIFIER_ARCHITECTURES}, got {architecture!r}")
    if architecture == "resnet50":
        return build_resnet50_classifier(image_size, weights=weights)
    if architecture == "resunet_encoder":
        return build_encoder_classifier(image_size, segmenter=weights)
    if weights:
        raise ValueError("--weights applies to the resnet50 and resunet_encoder architectures only")
    return build_compact_classifier(image_size)
