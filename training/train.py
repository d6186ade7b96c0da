"""Train the classifier, the segmenter, or both at once (``joint``), and save the network.

Writes ``<out>/joint.keras``, ``<out>/classifier.keras`` or ``<out>/segmenter.keras`` (no optimizer
state; :data:`training.config.NETWORK_FILES`), the patient split (``<out>/split.json``) and the
training part of the model card. The run folder ``<runs>/<model>/`` holds what a resume needs (:mod:`training.callbacks`):
``python -m training train --resume RUN_DIR`` continues the run exactly where its last finished
epoch left it (weights, optimizer, schedule, data order and augmentation).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import operator
import os
import platform
import time
from pathlib import Path
from typing import Any

import keras

from contract import (
    CHANNELS,
    INPUT_RANGE,
    MASK_OUTPUT,
    PROBABILITY_OUTPUT,
    SPLIT_FILE,
    file_version,
    read_card,
    write_card,
)
from contract.layout import OUTPUT_KEY
from training import lgg
from training.augment import Augment, AugmentLayer
from training.batches import SliceDataset, pack
from training.callbacks import (
    CONFIG_FILE,
    LAST_FILE,
    STATE_FILE,
    EpochCheckpoint,
    ReseedLayers,
    TimeBudget,
    best_weights_file,
    cosine_schedule,
)
from training.config import DEFAULT_MODELS, NETWORK_FILES, TrainConfig
from training.export import export_folder
from training.losses import LOSSES, soft_dice
from training.models import build_encoder_classifier, build_joint, build_resunet, copy_weights_by_name
from training.trainer import TrainingModel

log = logging.getLogger(__name__)


def load_or_make_split(cfg: TrainConfig, records: list[lgg.SliceRecord]) -> dict:
    """Read ``split.json`` from the output folder, else the served folder's when it splits the same patients,
    else make the seeded patient split; save it in the output folder."""
    path = Path(cfg.out) / SPLIT_FILE
    served = DEFAULT_MODELS / SPLIT_FILE
    if not path.exists() and served.exists():
        patients = set(
            functools.reduce(operator.iadd, json.loads(served.read_text())["patients"].values(), [])
        )
        if patients == {r.patient for r in records}:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(served.read_text())
    if path.exists():
        split = json.loads(path.read_text())
        split.setdefault(
            "slices", {k: len(lgg.records_for(records, v)) for k, v in split["patients"].items()}
        )
        known = {r.patient for r in records}
        if set(functools.reduce(operator.iadd, split["patients"].values(), [])) != known:
            raise ValueError(f"{path} does not match the patients of {cfg.data}; remove it to re-split")
        return split
    patients = lgg.split_patients(records, cfg.seed, tuple(cfg.split_fractions))
    split = {
        "seed": cfg.seed,
        "fractions": list(cfg.split_fractions),
        "patients": patients,
        "slices": {k: len(lgg.records_for(records, v)) for k, v in patients.items()},
    }
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


OUTPUTS = {
    "classifier": "(N, 1) sigmoid tumour probability",
    "classifier_softmax": "(N, 2) softmax, tumour at index 1",
    "segmenter": "(N, S, S, 1) per-pixel sigmoid tumour probability",
}
CUSTOM_OBJECTS = {
    **{fn.__name__: fn for fn in (*LOSSES.values(), soft_dice)},
    "TrainingModel": TrainingModel,
    "AugmentLayer": AugmentLayer,
}


def _network(cfg: TrainConfig) -> keras.Model:
    """The network a run trains (what it saves), under the current dtype policy."""
    if cfg.model == "classifier":
        return build_encoder_classifier(cfg.image_size, segmenter=cfg.weights)
    if cfg.model == "segmenter":
        return build_resunet(cfg.image_size)
    return build_joint(cfg.image_size)


def _compiled_terms(cfg: TrainConfig, net: keras.Model):
    """Loss, loss weights, metrics and the monitor of each served role, keyed as the net's outputs."""
    if cfg.model == "classifier":
        loss = "categorical_crossentropy" if net.output_shape[-1] == 2 else "binary_crossentropy"
        return loss, None, ["accuracy", keras.metrics.AUC(name="auc")], {"classifier": "val_auc"}
    if cfg.loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {cfg.loss!r}")
    if cfg.model == "segmenter":
        return LOSSES[cfg.loss], None, [soft_dice], {"segmenter": "val_soft_dice"}
    loss = {MASK_OUTPUT: LOSSES[cfg.loss], PROBABILITY_OUTPUT: "binary_crossentropy"}
    metrics = {MASK_OUTPUT: [soft_dice], PROBABILITY_OUTPUT: [keras.metrics.AUC(name="auc"), "accuracy"]}
    return (
        loss,
        {MASK_OUTPUT: 1.0, PROBABILITY_OUTPUT: cfg.label_weight},
        metrics,
        {"segmenter": "val_mask_soft_dice", "classifier": "val_tumour_probability_auc"},
    )


def precision_policy(precision: str) -> str:
    """The Keras dtype policy of a run: ``auto`` is ``mixed_bfloat16`` on a GPU under JAX, else ``float32``."""
    if precision != "auto":
        return precision
    if keras.backend.backend() == "jax":
        import jax

        if any(d.platform == "gpu" for d in jax.devices()):
            return "mixed_bfloat16"
    return "float32"


def _float32_copy(cfg: TrainConfig, net: keras.Model) -> keras.Model:
    """``net`` with float32 computation (the served file's): itself, or the same weights in a float32 build."""
    if net.dtype_policy.name == "float32":
        return net
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        copy = _network(cfg)
    finally:
        keras.config.set_dtype_policy(previous)
    copy.set_weights(net.get_weights())
    return copy


def _init_weights(model: keras.Model, source: str, kind: str) -> None:
    """Start ``model`` from ``source``: a ``.keras`` file of the same network, one sharing layer names, or a
    served file wrapping a classifier and a segmenter (``python -m training wrap``: its ``kind`` half);
    else weights (``.weights.h5``)."""
    if source.endswith(".keras"):
        loaded = keras.saving.load_model(source, compile=False)
        nested = next(
            (layer for layer in loaded.layers if layer.name == kind and hasattr(layer, "layers")), None
        )
        if nested is not None:  # one half of a wrapped pair
            loaded = nested
        if len(loaded.weights) == len(model.weights) and loaded.name in (model.name, kind):
            model.set_weights(loaded.get_weights())
        elif not copy_weights_by_name(loaded, model):
            raise ValueError(f"{source} shares no layer names with {model.name}")
    else:
        model.load_weights(source)
    log.info("initialised weights from %s", source)


def resume_config(
    run_dir: str | Path, max_minutes: float | None = None, workers: int | None = None
) -> TrainConfig:
    """The configuration of the run in ``run_dir``, with a new time budget (and number of batch-preparing
    threads) for this stretch if given: neither changes what the run computes."""
    path = Path(run_dir) / CONFIG_FILE
    if not (Path(run_dir) / STATE_FILE).exists() or not path.exists():
        raise ValueError(f"{run_dir} holds no resumable run ({CONFIG_FILE} and {STATE_FILE} after an epoch)")
    options = json.loads(path.read_text())
    for retired, only in (
        ("schedule", "cosine"),
        ("architecture", "resunet_encoder"),
    ):  # settings of earlier code
        if options.pop(retired, only) != only and (
            retired != "architecture" or options["model"] == "classifier"
        ):
            raise ValueError(
                f"{run_dir} was a run with {retired} other than {only!r}, which this code no longer trains"
            )
    options["split_fractions"] = tuple(options["split_fractions"])
    options["runs"] = str(Path(run_dir).parent)  # the folder may have moved since
    if Path(run_dir).name != options["model"]:
        raise ValueError(
            f"{run_dir} is a {options['model']} run; its folder must be named {options['model']}"
        )
    if max_minutes is not None:
        options["max_minutes"] = max_minutes
    if workers is not None:
        options["workers"] = workers
    return TrainConfig(**options)


def train(cfg: TrainConfig, verbose: int | str = "auto", resume: bool = False) -> dict[str, keras.Model]:
    """Train as configured (or continue the run in ``<runs>/<model>`` with ``resume``); save the served
    models and return them by name (``classifier``, ``segmenter``), uncompiled, without optimizer."""
    keras.utils.set_random_seed(cfg.seed)
    started = time.time()
    run_dir = Path(cfg.runs) / cfg.model
    if not resume and (run_dir / STATE_FILE).exists():
        raise ValueError(
            f"{run_dir} already holds a run: continue it with --resume {run_dir}, or choose --runs"
        )
    records = lgg.build_index(cfg.data)
    split = load_or_make_split(cfg, records)
    _, x_train, m_train = _part(cfg, records, split, "train")
    _, x_val, m_val = _part(cfg, records, split, "validation")
    has_train = m_train.reshape(len(m_train), -1).any(axis=1)
    try:
        augment = Augment(**cfg.augment)
    except TypeError as exc:  # an unknown setting name
        raise ValueError(f"bad augmentation settings {cfg.augment}: {exc}") from None
    if cfg.model == "classifier" and cfg.healthy_fraction != 1.0:
        log.info("a classifier run draws every slice (healthy_fraction applies to mask-trained runs)")

    state: dict[str, Any] = json.loads((run_dir / STATE_FILE).read_text()) if resume else {}
    epoch0 = state.get("epochs_done", 0)
    pixel_targets = cfg.model != "classifier"
    train_ds = SliceDataset(
        pack(x_train, m_train),
        cfg.batch_size,
        draw=True,
        keep=has_train if pixel_targets else None,
        other_fraction=cfg.healthy_fraction if pixel_targets else 1.0,
        seed=cfg.seed,
        epoch=epoch0,
        workers=cfg.workers,
        max_queue_size=4 * cfg.workers,
    )
    val_ds = SliceDataset(pack(x_val, m_val), cfg.batch_size)
    keras.config.set_dtype_policy(precision_policy(cfg.precision))
    try:
        net = _network(cfg)
    finally:
        keras.config.set_dtype_policy("float32")
    loss, loss_weights, metrics, monitors = _compiled_terms(cfg, net)
    rate = cosine_schedule(cfg.learning_rate, len(train_ds), cfg.epochs, cfg.warmup_epochs)
    if resume:
        model = keras.saving.load_model(run_dir / LAST_FILE, custom_objects=CUSTOM_OBJECTS)
        log.info(
            "resuming %s after epoch %d (optimizer step %d)", run_dir, epoch0, int(model.optimizer.iterations)
        )
    else:
        if cfg.init_weights:
            _init_weights(net, cfg.init_weights, cfg.model)
        model = TrainingModel(
            net,
            cfg.augment,
            cfg.seed,
            kind=None if cfg.model == "joint" else cfg.model,
            name=f"{cfg.model}_training",
        )
        model.compile(
            optimizer=keras.optimizers.Adam(rate), loss=loss, loss_weights=loss_weights, metrics=metrics
        )
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / CONFIG_FILE).write_text(json.dumps(cfg.as_dict(), indent=2) + "\n")
    model.build_state()
    log.info(
        "training %s (%d parameters, %s) on %d slices, validating on %d, epochs %d..%d",
        model.net.name,
        model.net.count_params(),
        model.net.dtype_policy.name,
        len(x_train),
        len(x_val),
        epoch0 + 1,
        cfg.epochs,
    )
    callbacks = ([TimeBudget(cfg.max_minutes)] if cfg.max_minutes > 0 else []) + [
        ReseedLayers(cfg.seed),
        EpochCheckpoint(run_dir, monitors if cfg.keep == "best" else {}, state, cfg.patience),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=resume),
    ]
    if epoch0 < cfg.epochs:
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=cfg.epochs,
            initial_epoch=epoch0,
            validation_freq=cfg.validate_every,
            callbacks=callbacks,
            verbose=verbose,
        )
    return _save_served(
        cfg, model, list(monitors), state, run_dir, split, records, augment, time.time() - started
    )


def _save_served(
    cfg: TrainConfig,
    model: keras.Model,
    names: list[str],
    state: dict,
    run_dir: Path,
    split: dict,
    records,
    augment: Augment,
    duration_s: float,
) -> dict[str, keras.Model]:
    """The trained network from its best (or, with ``keep="last"``, its last) epoch, saved without
    optimizer as ``NETWORK_FILES[cfg.model]``, with its card entries; returns it by role.

    A joint run's file is a served folder's model (both outputs, :mod:`contract.layout`; its best epoch
    is the segmenter's); a classifier or segmenter run's file is one half of one, served once wrapped
    with the other half (``python -m training wrap``)."""
    card = read_card(cfg.out)
    continued = None
    if cfg.init_weights:  # keep the record of the run these weights came from, when it is known
        continued = read_card(Path(cfg.init_weights).parent).get("models", {})
    if cfg.keep == "last":  # the model as the last epoch left it, whatever the validation curve said
        best = {"monitor": "last epoch", "value": None, "epoch": state["epochs_done"]}
    else:
        chosen = "segmenter" if "segmenter" in names else names[0]
        best = state["best"][chosen]
        model.load_weights(best_weights_file(run_dir, chosen))
    file = NETWORK_FILES[cfg.model]
    out = Path(cfg.out) / file
    out.parent.mkdir(parents=True, exist_ok=True)
    net = _float32_copy(cfg, model.net)
    # a fresh functional model over the same layers is uncompiled: the file carries no optimizer
    keras.Model(net.inputs, net.output, name=net.name).save(out)
    saved = keras.saving.load_model(out, compile=False)
    for name in names:
        output = (
            {"classifier": PROBABILITY_OUTPUT, "segmenter": MASK_OUTPUT}[name]
            if cfg.model == "joint"
            else None
        )
        card.setdefault("models", {})[name] = {
            "file": file,
            **({OUTPUT_KEY: output} if output else {}),
            "version": file_version(out),
            "name": f"lgg-{name}",
            "architecture": saved.name,
            "parameters": int(saved.count_params()),
            "input": {
                "shape": [cfg.image_size, cfg.image_size, 3],
                "dtype": "float32",
                "range": list(INPUT_RANGE),
                "channels": list(CHANNELS),
            },
            "output": OUTPUTS[
                "classifier_softmax" if cfg.model == "classifier" and saved.output_shape[-1] == 2 else name
            ],
            "training": {
                "config": cfg.as_dict(),
                "run": str(run_dir),
                "augmentation": dataclasses.asdict(augment),
                "train_slices": int(split["slices"]["train"]) if cfg.max_slices is None else None,
                "epochs_run": state["epochs_done"],
                "best_epoch": best["epoch"],
                "monitor": best["monitor"],
                "best_monitor_value": best["value"],
                "history": state["history"],
                "duration_s": round(duration_s, 1),
                "device": device_info(),
                "continued_from": (continued or {}).get(name, {}).get("training"),
            },
            "metrics": card.get("models", {}).get(name, {}).get("metrics", {}),
        }
    log.info(
        "saved %s (%.1f MiB) from epoch %d of %d (%s %s)",
        out,
        out.stat().st_size / 2**20,
        best["epoch"],
        state["epochs_done"],
        best["monitor"],
        best["value"],
    )
    card["split"] = split
    card["data"] = {
        "root": Path(cfg.data).name,
        "slices": len(records),
        "patients": len({r.patient for r in records}),
        "tumour_slices": sum(r.has_tumour for r in records),
        "fingerprint": lgg.fingerprint(cfg.data, records),
    }
    write_card(cfg.out, card)
    if cfg.keep == "best" and cfg.model == "joint":  # a served folder: the ONNX file the service runs
        export_folder(cfg.out, files=[file])
    return dict.fromkeys(names, saved)
