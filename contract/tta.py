"""Flip test-time augmentation: a model's answer averaged with its answer to the left-right mirror.

One implementation for the service (``MRI_TTA``, following the model card's :data:`TTA_KEY`) and
training (out-of-fold predictions, evaluation), so that both average the same way.

A *model call* here is ``batch -> {output name: array}``: a float32 batch ``(N, S, S, 3)`` in,
``(N, ...)`` per output (a Keras dict-output model's ``predict_on_batch``, a service runtime's
``run``). :func:`flip_tta` wraps one: the batch and its mirror (columns reversed,
``batch[:, :, ::-1]``) run as **one** call of ``2N`` slices, then every output is the mean of the two
answers: a probability ``(N, 1)`` directly, a map ``(N, H, W[, C])`` (any output of rank 3 or more)
after flipping the mirror's answer back along its columns. Twice the model's work per slice.

The card's ``"tta"``: ``"flip"`` (the models were chosen with it) or ``"none"``; absent = ``"none"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

#: Top-level key of ``model_card.json`` naming the test-time augmentation the models were chosen with.
TTA_KEY = "tta"
NO_TTA = "none"
FLIP = "flip"
TTAS = (NO_TTA, FLIP)

ModelCall = Callable[[np.ndarray], Mapping[str, Any]]


def card_tta(card: Mapping[str, Any]) -> str:
    """The card's test-time augmentation (:data:`TTAS`); ``"none"`` when it names none."""
    tta = card.get(TTA_KEY) or NO_TTA
    if tta not in TTAS:
        raise ValueError(f"the model card's {TTA_KEY!r} must be one of {TTAS}, got {tta!r}")
    return tta


def with_tta(call: ModelCall, tta: str) -> ModelCall:
    """``call`` itself for ``"none"``, :func:`flip_tta` of it for ``"flip"``."""
    if tta not in TTAS:
        raise ValueError(f"tta must be one of {TTAS}, got {tta!r}")
    return flip_tta(call) if tta == FLIP else call


def flip_tta(call: ModelCall) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """A model call answering, per output, the mean of ``call``'s answers to the batch and to its
    left-right mirror (one call of both; maps flipped back: module docstring)."""

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        batch = np.asarray(batch)
        n = len(batch)
        outputs = call(np.concatenate([batch, batch[:, :, ::-1]]))
        return {name: mean_with_mirror(np.asarray(value), n) for name, value in outputs.items()}

    return run


def mean_with_mirror(value: np.ndarray, n: int) -> np.ndarray:
    """Rows ``:n`` (the batch's answers) averaged with rows ``n:`` (the mirror's; a map's flipped back)."""
    plain, mirrored = value[:n], value[n:]
    if mirrored.ndim >= 3:
        mirrored = mirrored[:, :, ::-1]
    return (plain + mirrored) / 2
