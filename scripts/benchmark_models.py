"""Speed of the model architectures on this machine: parameters, inference and training images/s.

Builds each architecture untrained (no data needed), times ``predict_on_batch`` and
``train_on_batch`` on random inputs after one warm-up step, and prints one line per model:

    python -m scripts.benchmark_models --sizes 128 256 --batch 16 --steps 3
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from training.losses import dice_bce_loss
from training.models import build_encoder_classifier, build_resunet


def _rate(step, batch: int, steps: int) -> float:
    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument(
        "--models", nargs="+", default=["resunet_encoder", "resunet"], choices=["resunet_encoder", "resunet"]
    )
    args = p.parse_args(argv)
    print(f"{'model':<16} {'size':>5} {'params':>11} {'infer img/s':>12} {'train img/s':>12}")
    for size in args.sizes:
        for name in args.models:
            model = build_resunet(size) if name == "resunet" else build_encoder_classifier(size)
            rng = np.random.default_rng(0)
            x = rng.uniform(0, 255, (args.batch, size, size, 3)).astype("float32")
            if name == "resunet":
                y, loss = (rng.random((args.batch, size, size, 1)) > 0.9).astype("float32"), dice_bce_loss
            else:
                y, loss = rng.integers(0, 2, (args.batch, 1)).astype("float32"), "binary_crossentropy"
            model.compile(optimizer="adam", loss=loss)
            infer = _rate(lambda model=model, x=x: model.predict_on_batch(x), args.batch, args.steps)
            train = _rate(lambda model=model, x=x, y=y: model.train_on_batch(x, y), args.batch, args.steps)
            print(
                f"{name:<16} {size:>5} {model.count_params():>11,} {infer:>12.1f} {train:>12.1f}", flush=True
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
