"""Keras 3 builders, one per file: the ResUNet segmenter (:mod:`.resunet`), the joint model
(:mod:`.joint`), the slice classifier on the ResUNet's encoder (:mod:`.encoder_classifier`), a
classifier and a segmenter as one served model (:mod:`.pair`), on the shared pieces of :mod:`.backbone`.
"""

from __future__ import annotations

from training.models.backbone import ENCODER_PREFIXES, copy_weights_by_name, resunet_encoder
from training.models.encoder_classifier import ENCODER_CLASSIFIER_NAME, build_encoder_classifier
from training.models.joint import build_joint, split_joint
from training.models.resunet import build_resunet

__all__ = [
    "ENCODER_CLASSIFIER_NAME",
    "ENCODER_PREFIXES",
    "build_encoder_classifier",
    "build_joint",
    "build_resunet",
    "copy_weights_by_name",
    "resunet_encoder",
    "split_joint",
]
