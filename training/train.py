"""Train the classifier or the segmenter and save it, without optimizer state, for the service.

Writes ``<out>/classifier.keras`` or ``<out>/segmenter.keras``, the patient split
(``<out>/split.json``, shared by both models) and the training part of the model card; the run's
CSV log and best checkpoint go to ``<runs>/<model>/``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np

from contract import (CHANNELS, CLASSIFIER_FILE, INPUT_RANGE, SEGMENTER_FILE, SPLIT_FILE, file_version, read_card,
                      write_card)
from training import data as lgg
from training.config import TrainConfig
from training.dataset import Augment, SliceDataset
from training.losses import LOSSES, soft_dice
from training.models import build_classifier, build_resunet

log = logging.getLogger(__name__)


def load_or_make_split(cfg: TrainConfig, records: list[lgg.SliceRecord]) -> dict:
    """Read ``split.json`` from the output folder, or make the seeded patient split and save it there."""
    path = Path(cfg.out) / SPLIT_FILE
    if path.exists():
        split = json.loads(path.read_text())
        known = {r.patient for r in records}
        if set(sum(split["patients"].values(), [])) != known:
            raise ValueError(f"{path} does not match the patients of {cfg.data}; remove it to re-split")
        return split
    patients = lgg.split_patients(records, cfg.seed, tuple(cfg.split_fractions))
    split = {"seed": cfg.seed, "fractions": list(cfg.split_fractions), "patients": patients,
             "slices": {k: len(lgg.records_for(records, v)) for k, v in patients.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(split, indent=2) + "\n")
    log.info("wrote patient split to %s: %s", path, split["slices"])
    return split


def _part(cfg: TrainConfig, records, split: dict, part: str):
    recs = lgg.records_for(records, split["patients"][part])
    if cfg.max_slices:
        recs = recs[: cfg.max_slices]
    images, masks = lgg.load_arrays(cfg.data, recs, cfg.image_size)
    return recs, images, masks


def device_info() -> dict:
    """Backend and device the run used (no TensorFlow import: JAX devices where JAX is the backend)."""
    info = {"backend": keras.backend.backend(), "platform": platform.platform(), "cpu_count": os.cpu_count()}
    if info["backend"] == "jax":
        import jax

        info["devices"] = [str(d) for d in jax.devices()]
    else:
        info["devices"] = ["cpu"] if not os.environ.get("CUDA_VISIBLE_DEVICES") else ["gpu"]
    return info


class TimeBudget(keras.callbacks.Callback):
    """Stop training at the end of the first epoch that ends past ``minutes`` of wall-clock time."""

    def __init__(self, minutes: float):
        super().__init__()
        self.deadline = time.time() + 60.0 * minutes

    def on_epoch_end(self, epoch, logs=None):
        if time.time() > self.deadline:
            log.info("time budget reached after epoch %d", epoch + 1)
            self.model.stop_training = True


def _callbacks(cfg: TrainConfig, run_dir: Path, monitor: str, mode: str) -> list:
    def schedule(epoch: int, lr: float) -> float:
        # Linear warm-up, then leave the rate to ReduceLROnPlateau.
        if epoch < cfg.warmup_epochs:
            return cfg.learning_rate * (epoch + 1) / (cfg.warmup_epochs + 1)
        if epoch == cfg.warmup_epochs:
            return cfg.learning_rate
        return float(lr)

    budget = [TimeBudget(cfg.max_minutes)] if cfg.max_minutes > 0 else []
    return budget + [
        keras.callbacks.LearningRateScheduler(schedule),
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=0.3, patience=2, min_lr=1e-6),
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=cfg.patience, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(str(run_dir / "best.weights.h5"), monitor=monitor, mode=mode,
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv")),
    ]


def train(cfg: TrainConfig, verbose: int | str = "auto") -> tuple[keras.Model, Path]:
    """Train one model as configured; return the served (uncompiled) model and the path it was saved to."""
    keras.utils.set_random_seed(cfg.seed)
    started = time.time()
    records = lgg.build_index(cfg.data)
    split = load_or_make_split(cfg, records)
    _, x_train, m_train = _part(cfg, records, split, "train")
    _, x_val, m_val = _part(cfg, records, split, "validation")
    has_train = m_train.reshape(len(m_train), -1).any(axis=1)
    has_val = m_val.reshape(len(m_val), -1).any(axis=1)
    try:
        augment = Augment(**cfg.augment)
    except TypeError as exc:  # an unknown setting name
        raise ValueError(f"bad augmentation settings {cfg.augment}: {exc}") from None
    optimizer = keras.optimizers.Adam(cfg.learning_rate)

    if cfg.model == "classifier":
        model = build_classifier(cfg.architecture, cfg.image_size, cfg.weights)
        two_way = model.output_shape[-1] == 2
        y_train = has_train.astype(np.float32)[:, None]
        y_val = has_val.astype(np.float32)[:, None]
        if two_way:
            y_train, y_val = np.concatenate([1 - y_train, y_train], 1), np.concatenate([1 - y_val, y_val], 1)
        loss = "categorical_crossentropy" if two_way else "binary_crossentropy"
        metrics = ["accuracy", keras.metrics.AUC(name="auc")]
        train_ds = SliceDataset(x_train, y_train, cfg.batch_size, augment, seed=cfg.seed)
        val_ds = SliceDataset(x_val, y_val, cfg.batch_size)
        monitor, mode, file = "val_auc", "max", CLASSIFIER_FILE
    else:
        model = build_resunet(cfg.image_size)
        if cfg.loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {cfg.loss!r}")
        loss, metrics = LOSSES[cfg.loss], [soft_dice]
        train_ds = SliceDataset(x_train, m_train, cfg.batch_size, augment, keep=has_train,
                                other_fraction=cfg.healthy_fraction, seed=cfg.seed)
        val_ds = SliceDataset(x_val, m_val, cfg.batch_size)
        monitor, mode, file = "val_soft_dice", "max", SEGMENTER_FILE

    if cfg.init_weights:
        source = cfg.init_weights
        if source.endswith(".keras"):
            model.set_weights(keras.saving.load_model(source, compile=False).get_weights())
        else:
            model.load_weights(source)
        log.info("initialised weights from %s", source)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    run_dir = Path(cfg.runs) / cfg.model
    run_dir.mkdir(parents=True, exist_ok=True)
    log.info("training %s (%d parameters) on %d slices, validating on %d", model.name, model.count_params(),
             len(x_train), len(x_val))
    history = model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs,
                        callbacks=_callbacks(cfg, run_dir, monitor, mode), verbose=verbose)

    # EarlyStopping restores the best weights only when it stops the run itself; a run that ends on
    # its epoch count or time budget ends on its last epoch, so reload the best checkpoint here.
    best_checkpoint = run_dir / "best.weights.h5"
    if best_checkpoint.exists():
        model.load_weights(best_checkpoint)
    # A fresh functional model over the same layers is uncompiled: the file carries no optimizer.
    served = keras.Model(model.inputs, model.outputs, name=model.name)
    out = Path(cfg.out) / file
    served.save(out)
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    best = int(np.argmax(hist[monitor]) if mode == "max" else np.argmin(hist[monitor]))
    card = read_card(cfg.out)
    continued = None
    if cfg.init_weights:  # keep the record of the run these weights came from, when it is known
        continued = read_card(Path(cfg.init_weights).parent).get("models", {}).get(cfg.model, {}).get("training")
    card.setdefault("models", {})[cfg.model] = {
        "file": file,
        "version": file_version(out),
        "name": f"lgg-{cfg.model}",
        "architecture": model.name,
        "parameters": int(model.count_params()),
        "input": {"shape": [cfg.image_size, cfg.image_size, 3], "dtype": "float32", "range": list(INPUT_RANGE),
                  "channels": list(CHANNELS)},
        "output": ("(N, 1) sigmoid tumour probability" if model.output_shape[-1] == 1 and cfg.model == "classifier"
                   else "(N, 2) softmax, tumour at index 1" if cfg.model == "classifier"
                   else "(N, S, S, 1) per-pixel sigmoid tumour probability"),
        "training": {
            "config": cfg.as_dict(),
            "augmentation": dataclasses.asdict(augment),
            "train_slices": len(x_train), "validation_slices": len(x_val),
            "epochs_run": len(hist["loss"]), "best_epoch": best + 1,
            "monitor": monitor, "best_monitor_value": hist[monitor][best],
            "history": hist,
            "duration_s": round(time.time() - started, 1),
            "device": device_info(),
            "continued_from": continued,
        },
        "metrics": card.get("models", {}).get(cfg.model, {}).get("metrics", {}),
    }
    card["split"] = split
    card["data"] = {"root": Path(cfg.data).name, "slices": len(records),
                    "patients": len({r.patient for r in records}),
                    "tumour_slices": sum(r.has_tumour for r in records),
                    "fingerprint": lgg.fingerprint(cfg.data, records)}
    write_card(cfg.out, card)
    log.info("saved %s (%.1f MiB) after %d epochs", out, out.stat().st_size / 2**20, len(hist["loss"]))
    return served, out
