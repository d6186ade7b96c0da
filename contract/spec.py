"""Model-file contract: names, input spec, pre/post-processing and the model card.

Pure NumPy/OpenCV: no Keras import, so the contract can be read without a deep-learning backend.

Input spec
    A model input is a float32 batch ``(N, S, S, 3)`` holding raw 8-bit intensities in
    ``INPUT_RANGE`` = [0, 255]. The three channels are MRI sequences, in the order of ``CHANNELS``
    (pre-contrast, FLAIR, post-contrast), as in the LGG data. ``S`` is read from the saved model's
    input shape. Scaling to [0, 1] is the first layer *inside* every saved model (a ``Rescaling``
    layer named ``preprocess``), so serving cannot drift from training.

Outputs
    A served model file has two named outputs (:data:`JOINT_OUTPUTS`): ``tumour_probability``, the
    ``(N, 1)`` sigmoid probability of tumour of each slice (:func:`tumour_probability` also reads an
    ``(N, 2)`` softmax with the tumour class at index 1), and ``mask``, the ``(N, s, s, 1)``
    per-pixel sigmoid probability of FLAIR abnormality (``s`` may differ from ``S``: maps are
    resized to each slice, :func:`probabilities_at`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

#: The served model file: one network or several (a joint network, an ensemble, a classifier and a
#: segmenter wrapped together), one pass per slice, with both outputs (:data:`JOINT_OUTPUTS`).
JOINT_FILE = "joint.keras"
#: A joint model for FLAIR-only input (a grey upload, a FLAIR-only volume), when the folder has one.
FLAIR_FILE = "flair.keras"
#: Output names of a joint model: ``(N, S, S, 1)`` per-pixel and ``(N, 1)`` slice tumour probability.
MASK_OUTPUT = "mask"
PROBABILITY_OUTPUT = "tumour_probability"
JOINT_OUTPUTS = (MASK_OUTPUT, PROBABILITY_OUTPUT)
CARD_FILE = "model_card.json"
CARD_TEXT_FILE = "MODEL_CARD.md"
SPLIT_FILE = "split.json"

CHANNELS = ("pre-contrast", "FLAIR", "post-contrast")
#: Index of FLAIR in ``CHANNELS``: a greyscale upload is taken as FLAIR, repeated on all three.
FLAIR_CHANNEL = CHANNELS.index("FLAIR")
#: What an answer was computed from (its ``sequences`` field): the three sequences of ``CHANNELS``
#: (a 3-channel upload) or FLAIR alone (a greyscale upload, repeated on the three channels; see
#: :func:`flair_only`). The model card's ``test`` figures are for the first, ``test_flair_only``
#: for the second.
SEQUENCES_ALL = ", ".join(CHANNELS)
SEQUENCES_FLAIR_ONLY = "FLAIR only"
INPUT_RANGE = (0.0, 255.0)
#: Cut-off of a probability (slice or pixel) when neither a setting nor the model card gives one.
DEFAULT_THRESHOLD = 0.5
#: Side of the LGG data's slices (256 x 256): the resolution masks are scored at and the area the
#: 2-D post-processing's ``min_component_pixels`` counts in (contract/postprocess.py).
NATIVE_SLICE_SIZE = 256
#: Model input side ``S`` that training uses unless told otherwise; the service reads ``S`` from each
#: saved model and falls back to this only for a model whose input size is not fixed.
DEFAULT_INPUT_SIZE = 256


def to_model_input(image: np.ndarray, size: int) -> np.ndarray:
    """Resize one decoded slice to the model's input.

    ``image`` is ``(H, W, 3)`` uint8 (channels as in ``CHANNELS``). Returns ``(size, size, 3)``
    float32 in [0, 255]. Downscaling uses area averaging, upscaling bilinear interpolation; the
    same function is used by training and serving.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {image.dtype}")
    h, w = image.shape[:2]
    if (h, w) != (size, size):
        shrinking = h * w > size * size
        image = cv2.resize(
            image, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        )
    return image.astype(np.float32)


def flair_only(images: np.ndarray) -> np.ndarray:
    """Slices ``(..., 3)`` with every channel replaced by FLAIR: how a greyscale upload reaches the models.

    The service takes a single-channel upload as FLAIR and repeats it on the three channels; training
    (augmentation) and evaluation (``test_flair_only`` metrics) build the same input with this.
    """
    return np.repeat(images[..., FLAIR_CHANNEL : FLAIR_CHANNEL + 1], len(CHANNELS), axis=-1)


def mask_from_probabilities(prob: np.ndarray, shape: tuple[int, int], threshold: float) -> np.ndarray:
    """Turn a segmenter output ``(S, S)`` or ``(S, S, 1)`` of probabilities into a boolean mask.

    The probability map is resized bilinearly to ``shape`` = (height, width) of the uploaded image
    and then thresholded (``prob >= threshold``), so the mask has the size of the original slice.
    """
    return probabilities_at(prob, shape) >= threshold


def probabilities_at(prob: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A segmenter output ``(S, S)`` or ``(S, S, 1)`` as float32 probabilities resized bilinearly to
    ``shape`` = (height, width): what :func:`mask_from_probabilities` thresholds."""
    prob = np.asarray(prob, dtype=np.float32)
    if prob.ndim == 3:
        prob = prob[..., 0]
    h, w = shape
    if prob.shape != (h, w):
        prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
    return prob


def tumour_probability(outputs: np.ndarray) -> np.ndarray:
    """Read classifier outputs as a ``(N,)`` array of tumour probabilities in [0, 1]."""
    outputs = np.asarray(outputs, dtype=np.float32)
    if outputs.ndim == 1:
        return outputs
    if outputs.shape[-1] == 1:
        return outputs[:, 0]
    if outputs.shape[-1] == 2:
        return outputs[:, 1]
    raise ValueError(f"classifier output must have 1 or 2 columns, got shape {outputs.shape}")


def file_version(path: str | Path) -> str:
    """Content hash of a model file (first 12 hex digits of its SHA-256): the served version."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


def read_card(models_dir: str | Path) -> dict[str, Any]:
    """Read ``model_card.json`` from a models folder; an empty dict when there is none."""
    path = Path(models_dir) / CARD_FILE
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def write_card(models_dir: str | Path, card: dict[str, Any]) -> Path:
    """Write ``model_card.json`` (sorted, indented) into a models folder and return its path."""
    path = Path(models_dir) / CARD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return path


# Name of the Rescaling layer (x / 255) that opens every saved model: the in-model preprocessing.
PREPROCESS_LAYER = "preprocess"
INPUT_SCALE = 1.0 / 255.0


def has_preprocess_layer(model) -> bool:
    """Whether a Keras model holds the ``PREPROCESS_LAYER`` Rescaling, in itself or in a nested
    model (each member of an ensemble carries its own)."""
    return any(
        layer.name == PREPROCESS_LAYER or (hasattr(layer, "layers") and has_preprocess_layer(layer))
        for layer in model.layers
    )
