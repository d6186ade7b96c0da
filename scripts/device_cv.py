"""Train cross-validation folds on a lent GPU machine within a deadline, and pack what finished.

Runs ``python -m training cv --recipe R --fold F`` as separate processes (one per fold; Keras on
JAX, the GPU shared, no memory preallocation), ``--concurrency`` at a time, recipes in the order
given (the first ones are the ones that must finish). Each fold gets the time left before the
deadline as its ``--max-minutes``, so a fold that cannot finish stops cleanly and can be resumed.
After a recipe's folds have all ended, its finished folds are packed into ``<out>/<recipe>.npz``
(``training.cv.pack_folds``; ``python -m training cv --recipe R --unpack FILE`` re-creates them).

    KERAS_BACKEND=jax python -m scripts.device_cv --data /root/lgg/kaggle_3m --out $OUT \\
        --deadline-s 540 training/recipes/joint128.toml training/recipes/joint256.toml

The process log of each fold is ``<runs>/<recipe>-fold<i>.log``; a summary line per fold is logged.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("device_cv")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipes", nargs="+", help="recipe files, most important first")
    p.add_argument("--data", required=True, help="the LGG folder")
    p.add_argument("--out", required=True, help="where the packed folds go")
    p.add_argument("--runs", default="runs/cv", help="parent of <recipe>/fold<i>/")
    p.add_argument("--folds", default=str(REPO / "models" / "folds.json"), help="the folds file")
    p.add_argument("--deadline-s", type=float, required=True, help="seconds from now by which to have packed")
    p.add_argument(
        "--pack-margin-s", type=float, default=45, help="seconds kept for the last epochs and packing"
    )
    p.add_argument("--concurrency", type=int, default=5, help="fold processes at once")
    p.add_argument("--workers", type=int, default=3, help="batch-preparing threads per fold process")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    deadline = time.time() + args.deadline_s
    k = json.loads(Path(args.folds).read_text())["k"]
    jobs = [(r, f) for r in args.recipes for f in range(1, k + 1)]
    env = {
        **os.environ,
        "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax"),
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        "PYTHONUNBUFFERED": "1",
    }
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    running: dict[tuple[str, int], subprocess.Popen] = {}
    ended: dict[tuple[str, int], int] = {}
    packed: set[str] = set()
    while jobs or running:
        while len(running) < args.concurrency and (ready := _ready(jobs, args.runs, {*jobs, *running})):
            minutes = (deadline - args.pack_margin_s - time.time()) / 60
            recipe, fold = ready
            jobs.remove(ready)
            if minutes < 1:
                log.info("no time left for %s fold %d", recipe, fold)
                ended[(recipe, fold)] = -1
                continue
            logfile = open(Path(args.runs) / f"{Path(recipe).stem}-fold{fold}.log", "w")  # noqa: SIM115 (the child holds it)
            cmd = [
                sys.executable,
                "-m",
                "training",
                "cv",
                "--recipe",
                recipe,
                "--fold",
                str(fold),
                "--data",
                args.data,
                "--runs",
                args.runs,
                "--folds",
                args.folds,
                "--max-minutes",
                f"{minutes:.2f}",
                "--workers",
                str(args.workers),
            ]
            running[(recipe, fold)] = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=logfile, stderr=subprocess.STDOUT
            )
            log.info("started %s fold %d (%.1f min budget)", recipe, fold, minutes)
        time.sleep(2)
        for key, proc in list(running.items()):
            if proc.poll() is not None:
                ended[key] = proc.returncode
                del running[key]
                log.info("%s fold %d ended with %d", key[0], key[1], proc.returncode)
        for recipe in dict.fromkeys(r for r, _ in ended):
            if recipe not in packed and all((recipe, f) in ended for f in range(1, k + 1)):
                packed.add(recipe)
                _pack(recipe, args, env)
    log.info("all ended: %s", {f"{Path(r).stem}/{f}": c for (r, f), c in ended.items()})
    return 0


def _ready(jobs: list[tuple[str, int]], runs: str, waiting: set[tuple[str, int]]) -> tuple[str, int] | None:
    """The first job that needs no other fold model, or whose recipe's ``init_weights`` (another
    recipe's fold model) is not waiting on a fold still queued or running (``waiting``)."""
    for recipe, fold in jobs:
        init = tomllib.loads(Path(recipe).read_text()).get("init_weights")
        if not init:
            return recipe, fold
        source = Path(init.format(runs=runs, fold=fold)).parents[1].name
        if not any(Path(r).stem == source and f == fold for r, f in waiting):
            return recipe, fold  # its source has ended (or is not scheduled): it runs or says why not
    return None


def _pack(recipe: str, args, env) -> None:
    code = "import sys; from training.cv import pack_folds; print(pack_folds(sys.argv[1], sys.argv[2]))"
    target = Path(args.out) / f"{Path(recipe).stem}.npz"
    subprocess.run(
        [sys.executable, "-c", code, str(Path(args.runs) / Path(recipe).stem), str(target)],
        cwd=REPO,
        env=env,
        check=False,
    )
    log.info("packed %s", target)


if __name__ == "__main__":
    sys.exit(main())
