"""Keras 3 builders, one per file: the ResUNet segmenter (:mod:`.resunet`), the joint model
(:mod:`.joint`), and the slice classifiers (:mod:`.compact`, :mod:`.encoder_classifier`,
:mod:`.resnet50`), on the shared pieces of :mod:`.backbone`. :func:`build_classifier` picks a
classifier by name.
"""

from __future__ import annotations

import keras

from training.models.backbone import ENCODER_PREFIXES, copy_weights_by_name, resunet_encoder
from training.models.compact import build_compact_classifier
from training.models.encoder_classifier import ENCODER_CLASSIFIER_NAME, build_encoder_classifier
from training.models.joint import build_joint, split_joint
from training.models.resnet50 import build_resnet50_classifier
from training.models.resunet import build_resunet

CLASSIFIER_ARCHITECTURES = ("compact", "resunet_encoder", "resnet50")

__all__ = [
    "CLASSIFIER_ARCHITECTURES",
    "ENCODER_CLASSIFIER_NAME",
    "ENCODER_PREFIXES",
    "build_classifier",
    "build_compact_classifier",
    "build_encoder_classifier",
    "build_joint",
    "build_resnet50_classifier",
    "build_resunet",
    "copy_weights_by_name",
    "resunet_encoder",
    "split_joint",
]


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
