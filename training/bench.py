"""Training speed of a recipe on this machine (``python -m training bench RECIPE``): slices per second.

Times the training step the recipe would run (:class:`training.trainer.TrainingModel`: augmentation
and the network compiled together, its precision policy, its batch size), fed by the same
:class:`training.batches.SliceDataset` as a real run, on synthetic slices (random grey levels, a
square of tumour in half of them): the speed does not depend on the pixels. The first ``--warmup``
steps (tracing, compilation) are not timed. Prints one line with the backend, the device, the
processor and the figure.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path

import numpy as np

from training.config import TrainConfig, read_recipe

log = logging.getLogger(__name__)


def processor() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what ``platform`` says: printed beside every
    timing (the benchmarks of ``scripts/`` import it from here; this module loads no backend until used)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def synthetic_packed(count: int, size: int, seed: int = 0) -> np.ndarray:
    """``count`` packed slices of side ``size``: random grey levels, a tumour square in every other one."""

    from training.batches import pack

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    masks = np.zeros((count, size, size, 1), np.uint8)
    side = max(1, size // 4)
    masks[::2, side : 2 * side, side : 2 * side] = 1
    return pack(images, masks)


def bench(recipe: str | Path, steps: int = 20, warmup: int = 3, batch_size: int | None = None) -> dict:
    """Train ``steps`` steps of ``recipe`` after ``warmup`` untimed ones; returns the figures."""
    import keras

    from training.batches import SliceDataset
    from training.train import _compiled_terms, _network, device_info, precision_policy
    from training.trainer import TrainingModel

    options = read_recipe(recipe)
    if batch_size is not None:
        options["batch_size"] = batch_size
    cfg = TrainConfig(**{**options, "keep": "last"})  # no validation here: what keep means does not matter
    policy = precision_policy(cfg.precision)
    keras.config.set_dtype_policy(policy)
    try:
        net = _network(cfg)
    finally:
        keras.config.set_dtype_policy("float32")
    loss, weights, metrics, _ = _compiled_terms(cfg, net)
    model = TrainingModel(net, cfg.augment, cfg.seed, kind=None if cfg.model == "joint" else cfg.model)
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=loss, loss_weights=weights, metrics=metrics
    )
    count = cfg.batch_size * max(4, min(steps, 64))
    data = SliceDataset(synthetic_packed(count, cfg.image_size), cfg.batch_size, draw=True)
    model.fit(data, epochs=1, steps_per_epoch=warmup, verbose=0)
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    seconds = time.perf_counter() - start
    figures = {
        "recipe": Path(recipe).stem,
        "model": cfg.model,
        "image_size": cfg.image_size,
        "batch_size": cfg.batch_size,
        "precision": policy,
        "steps": steps,
        "slices_per_s": steps * cfg.batch_size / seconds,
        "seconds": seconds,
        "device": device_info(),
        "processor": processor(),
        "cpu_count": os.cpu_count(),
    }
    return figures


def line(figures: dict) -> str:
    """The figures as one line."""
    device = figures["device"]
    return (
        f"{figures['recipe']}: {figures['slices_per_s']:.1f} slices/s ({figures['model']} {figures['image_size']} px, "
        f"batch {figures['batch_size']}, {figures['precision']}, {figures['steps']} steps in "
        f"{figures['seconds']:.1f} s) on {device['backend']} {', '.join(device['devices'])}; processor "
        f"{figures['processor']}, {figures['cpu_count']} cores"
    )
