"""A recipe trained on every development patient (``python -m training final --recipe R``): the candidate
that the promotion gate (:mod:`training.promote`) weighs against the served folder.

Cross-validation (:mod:`training.cv`) chooses a recipe on out-of-fold predictions; the final model
then trains that recipe once on all development patients (``split.json``'s ``train`` and
``validation`` parts; the ``test`` part stays unseen), keeping its last epoch (nothing is left to
choose an epoch on: the former validation patients are watched only, and they are trained on). It
may start from earlier weights (``--init``: a ``.keras`` file, or a served file whose classifier or
segmenter half matches the recipe's model); fold models never do, their held-out patients must stay
unseen. The run lives in ``<runs>/<recipe>/`` and resumes like any run (run the command again).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from contract import SPLIT_FILE
from training.callbacks import STATE_FILE
from training.config import TrainConfig, read_recipe

log = logging.getLogger(__name__)


def final_split(split: dict) -> dict:
    """The split of a final run: every development patient trained on; the test part unchanged."""
    patients = split["patients"]
    development = sorted(patients["train"] + patients["validation"])
    return {
        "seed": split.get("seed"),
        "fractions": split.get("fractions"),
        "patients": {
            "train": development,
            "validation": list(patients["validation"]),
            "test": list(patients["test"]),
        },
        "note": "final run: trained on every development patient; the validation part is trained on too "
        "(watched only)",
    }


def run_dir_of(runs: str | Path, recipe: str | Path) -> Path:
    return Path(runs) / Path(recipe).stem


def train_final(
    recipe: str | Path,
    data: str,
    models_dir: str | Path,
    runs: str | Path,
    init: str | None = None,
    max_minutes: float = 0.0,
    workers: int = 1,
    verbose: int | str = 2,
) -> bool:
    """Train (or resume) the final run of ``recipe``; returns whether it finished all its epochs."""
    from training.train import resume_config, train

    options = read_recipe(recipe)
    folder = run_dir_of(runs, recipe)
    run_dir = folder / options["model"]
    if (run_dir / STATE_FILE).exists():
        cfg = resume_config(run_dir, max_minutes, workers=workers)
        if json.loads((run_dir / STATE_FILE).read_text())["epochs_done"] >= cfg.epochs:
            log.info("%s: finished already", folder)
            return True
        train(cfg, verbose=verbose, resume=True)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        split = json.loads((Path(models_dir) / SPLIT_FILE).read_text())
        (folder / SPLIT_FILE).write_text(json.dumps(final_split(split), indent=1) + "\n")
        cfg = TrainConfig(
            **{
                **options,
                "data": str(data),
                "out": str(folder),
                "runs": str(folder),
                "keep": "last",
                "validate_every": options.get("epochs", TrainConfig.epochs),
                "init_weights": init or options.get("init_weights"),
                "max_minutes": max_minutes,
                "workers": workers,
            }
        )
        train(cfg, verbose=verbose)
    done = json.loads((run_dir / STATE_FILE).read_text())["epochs_done"] >= resume_config(run_dir).epochs
    log.info("%s: %s", folder, "finished" if done else "stopped by its time budget; run again to resume")
    return done
