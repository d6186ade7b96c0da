"""A models folder's answers in Keras, as the service computes them (for evaluation in ``training/``).

:class:`FolderPredictor` reads the folder's layout from its card (:mod:`contract.layout`): one file
whose one pass answers both roles, with an optional FLAIR-only file. ``predict`` takes
uint8 slices ``(N, H, W, 3)`` and an input path (``three`` or ``flair``) and returns the tumour
probabilities ``(N,)`` and the per-pixel probabilities ``(N, S, S)`` at the model's input size ``S``,
preparing each slice with :func:`contract.to_model_input` as the service's runners do, and each
call under the card's test-time augmentation (:func:`contract.tta.card_tta`, applied by
:func:`contract.tta.with_tta`), as the service does with ``MRI_TTA=card``.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from contract import read_card, to_model_input, tumour_probability
from contract.layout import ROLES, RoleSpec, gate_of, layout_files, role_spec, volume_gate_of
from contract.tta import card_tta, with_tta


class FolderPredictor:
    """The models of one folder, each file loaded once; ``tta``: the card's test-time augmentation."""

    def __init__(self, models_dir: str | Path):
        self.models_dir = Path(models_dir)
        self.card = read_card(self.models_dir)
        self.models = {
            f: keras.saving.load_model(self.models_dir / f, compile=False) for f in layout_files(self.card)
        }
        self.gate = gate_of(self.card)
        self.volume_gate = volume_gate_of(self.card)
        self.tta = card_tta(self.card)

    def spec(self, role: str, path: str = "three") -> RoleSpec:
        return role_spec(self.card, role, path)

    def threshold(self, role: str, path: str = "three") -> float:
        """The card's threshold of ``role`` on ``path`` (:data:`contract.spec.DEFAULT_THRESHOLD` without one)."""
        return self.spec(role, path).threshold

    def _run(self, file: str, images: np.ndarray, batch_size: int) -> list:
        model = self.models[file]
        size = model.input_shape[1]
        call = with_tta(lambda x: model.predict_on_batch(x), self.tta)
        return [
            call(np.stack([to_model_input(im, size) for im in images[start : start + batch_size]]))
            for start in range(0, len(images), batch_size)
        ]

    def predict(
        self, images: np.ndarray, path: str = "three", batch_size: int = 32
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tumour probabilities ``(N,)`` and per-pixel probabilities ``(N, S, S)`` (module docstring)."""
        answers = {}
        runs: dict[str, list] = {}
        for role in ROLES:
            spec = self.spec(role, path)
            if spec.file not in runs:  # a joint file runs once for both roles
                runs[spec.file] = self._run(spec.file, images, batch_size)
            outs = [np.asarray(o[spec.output]) for o in runs[spec.file]]
            answers[role] = np.concatenate(outs) if outs else np.zeros((0,))
        probs = tumour_probability(answers["classifier"]) if len(images) else np.zeros(0, np.float32)
        masks = answers["segmenter"][..., 0] if len(images) else answers["segmenter"]
        return probs, masks
