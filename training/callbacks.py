"""Callbacks of a resumable run: the learning-rate schedule, a time budget and the per-epoch checkpoint.

A run folder (``runs/<model>/`` by default) holds, after every epoch:

- ``config.json``: the run's :class:`~training.config.TrainConfig` (written once, at the start);
- ``last.keras``: the whole training model *with* its optimizer state (Adam moments, step count,
  and so the position in the learning-rate schedule): what ``--resume`` continues from;
- ``state.json``: epochs done, the metric history, and the best value and epoch of each monitor;
- ``best_<model>.weights.h5``: the training model's weights at the best epoch of each monitor
  (``val_soft_dice`` for the segmenter, ``val_auc`` for the classifier, both for the joint model);
- ``log.csv``: one row per epoch, appended to on resume.

Only the served models (``models/*.keras``, no optimizer) leave the run folder.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import keras
import numpy as np

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
LAST_FILE = "last.keras"
CONFIG_FILE = "config.json"


def best_weights_file(run_dir: Path, model: str) -> Path:
    """Where the training weights at ``model``'s best validation epoch are kept."""
    return run_dir / f"best_{model}.weights.h5"


def cosine_schedule(learning_rate: float, steps_per_epoch: int, epochs: int, warmup_epochs: int):
    """Linear warm-up from a tenth of ``learning_rate`` over ``warmup_epochs``, then a cosine decay to
    1% of it at the last epoch. A function of the optimizer's step count alone: it resumes exactly
    from the optimizer state, and, unlike ReduceLROnPlateau, no noisy validation epoch can cut it."""
    warmup_steps = warmup_epochs * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=learning_rate / 10,
        warmup_target=learning_rate,
        warmup_steps=warmup_steps,
        decay_steps=max(1, (epochs - warmup_epochs) * steps_per_epoch),
        alpha=0.01,
    )


class TimeBudget(keras.callbacks.Callback):
    """Stop training at the end of the first epoch that ends past ``minutes`` of wall-clock time."""

    def __init__(self, minutes: float):
        super().__init__()
        self.deadline = time.time() + 60.0 * minutes

    def on_epoch_end(self, epoch, logs=None):
        if time.time() > self.deadline:
            log.info("time budget reached after epoch %d", epoch + 1)
            self.model.stop_training = True


class ReseedLayers(keras.callbacks.Callback):
    """Before every epoch, set each random layer's seed (dropout) from ``(seed, epoch, layer)``: the
    randomness of an epoch then does not depend on the epochs run before it in the same process."""

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch, logs=None):
        for i, layer in enumerate(self.model._flatten_layers()):
            generator = getattr(layer, "seed_generator", None)
            if generator is not None:
                state = np.random.default_rng([self.seed, epoch, i]).integers(0, 2**31 - 1)
                generator.state.assign(keras.ops.cast([state, 0], generator.state.dtype))


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: ``last.keras`` (with optimizer), best weights per monitor, ``state.json``.

    ``monitors`` maps a served model's name to the validation metric that picks its epoch (higher
    is better). With ``patience`` > 0 the run stops once no monitor has improved for that many
    epochs; the count lives in the state, so it survives a resume.
    """

    def __init__(self, run_dir: Path, monitors: dict[str, str], state: dict, patience: int = 0):
        super().__init__()
        self.run_dir, self.monitors, self.patience = Path(run_dir), monitors, patience
        self.state = state
        state.setdefault("epochs_done", 0)
        state.setdefault("history", {})
        state.setdefault("best", {})

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        for key, value in logs.items():
            self.state["history"].setdefault(key, []).append(float(value))
        self.state["history"].setdefault("learning_rate", [])
        if "learning_rate" not in logs:
            self.state["history"]["learning_rate"].append(
                float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            )
        for model, monitor in self.monitors.items():
            value = float(logs[monitor])
            best = self.state["best"].get(model)
            if best is None or (math.isfinite(value) and value > best["value"]):
                self.state["best"][model] = {"monitor": monitor, "value": value, "epoch": epoch + 1}
                self.model.save_weights(best_weights_file(self.run_dir, model))
        self.state["epochs_done"] = epoch + 1
        self.model.save(self.run_dir / LAST_FILE)
        (self.run_dir / STATE_FILE).write_text(json.dumps(self.state, indent=1) + "\n")
        last_best = max((b["epoch"] for b in self.state["best"].values()), default=epoch + 1)
        if self.patience and epoch + 1 - last_best >= self.patience:
            log.info("no validation improvement for %d epochs: stopping", self.patience)
            self.model.stop_training = True
