"""Segmentation losses and metrics, in ``keras.ops`` so they run on any Keras 3 backend.

All take ``y_true`` in {0, 1} and ``y_pred`` probabilities in [0, 1] and reduce over the whole
batch (every pixel of every slice), as the original notebook does.
"""

from __future__ import annotations

import keras
from keras import ops


def _flat(y_true, y_pred):
    y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))
    y_pred = ops.reshape(ops.cast(y_pred, "float32"), (-1,))
    return y_true, y_pred


def tversky_index(y_true, y_pred, alpha: float = 0.7, smooth: float = 1e-6):
    """Tversky index TP / (TP + alpha FN + (1 - alpha) FP); alpha > 0.5 weighs misses more."""
    y_true, y_pred = _flat(y_true, y_pred)
    tp = ops.sum(y_true * y_pred)
    fn = ops.sum(y_true * (1.0 - y_pred))
    fp = ops.sum((1.0 - y_true) * y_pred)
    return (tp + smooth) / (tp + alpha * fn + (1.0 - alpha) * fp + smooth)


def focal_tversky_loss(y_true, y_pred, alpha: float = 0.7, gamma: float = 0.75):
    """The original notebook's loss: (1 - Tversky index) ** gamma, alpha 0.7, gamma 0.75."""
    return ops.power(1.0 - tversky_index(y_true, y_pred, alpha), gamma)


def soft_dice(y_true, y_pred, smooth: float = 1.0):
    """Soft Dice coefficient 2 |X.Y| / (|X| + |Y|) with additive smoothing."""
    y_true, y_pred = _flat(y_true, y_pred)
    return (2.0 * ops.sum(y_true * y_pred) + smooth) / (ops.sum(y_true) + ops.sum(y_pred) + smooth)


def dice_bce_loss(y_true, y_pred):
    """Binary cross-entropy (mean over pixels) plus (1 - soft Dice)."""
    y_true_f, y_pred_f = _flat(y_true, y_pred)
    bce = ops.mean(keras.losses.binary_crossentropy(y_true_f[:, None], y_pred_f[:, None]))
    return bce + 1.0 - soft_dice(y_true, y_pred)


LOSSES = {"focal_tversky": focal_tversky_loss, "dice_bce": dice_bce_loss}
