"""Tiny Keras models that follow contract/spec.py, for tests that start the real service.

Deterministic weights make the answers meaningful on real LGG slices: the segmenter marks pixels
whose FLAIR intensity is above ~0.3 (of 255), the classifier says "tumour" when the brightest
FLAIR pixel is, so an empty (black) slice is "no tumour" and a brain slice is "tumour".
Used by tests/client (loaded by file path, so no package layout is needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIZE = 32


def build_tiny_models(folder: Path) -> Path:
    """Save ``classifier.keras``, ``segmenter.keras`` and ``model_card.json`` into ``folder``."""
    import keras

    from contract import spec
    from training.export import export_folder

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    flair = np.zeros((1, 1, 3, 1), dtype="float32")
    flair[0, 0, 1, 0] = 1.0

    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Rescaling(spec.INPUT_SCALE, name=spec.PREPROCESS_LAYER)(inputs)
    conv = keras.layers.Conv2D(1, 1, name="flair")
    x = keras.layers.GlobalMaxPooling2D()(conv(x))
    dense = keras.layers.Dense(1, activation="sigmoid", name="tumour")
    outputs = dense(x)
    classifier = keras.Model(inputs, outputs, name="tiny_classifier")
    conv.set_weights([flair, np.zeros(1, "float32")])
    dense.set_weights([np.full((1, 1), 10.0, "float32"), np.full(1, -3.0, "float32")])
    classifier.save(folder / spec.CLASSIFIER_FILE)

    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Rescaling(spec.INPUT_SCALE, name=spec.PREPROCESS_LAYER)(inputs)
    head = keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask")
    segmenter = keras.Model(inputs, head(x), name="tiny_segmenter")
    head.set_weights([flair * 20.0, np.full(1, -6.0, "float32")])
    segmenter.save(folder / spec.SEGMENTER_FILE)

    spec.write_card(folder, {"name": "tiny-test-models", "image_size": SIZE})
    export_folder(folder)  # the ONNX files the default runtime serves, named in the card
    return folder
