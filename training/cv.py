"""Train a recipe on every cross-validation fold (``python -m training cv``), resumable fold by fold.

A recipe's ``init_weights`` may name another recipe's fold models as a template,
``"{runs}/joint128/fold{fold}/joint.keras"``: fold ``i`` then starts from that recipe's fold ``i``,
which never saw fold ``i``'s patients either.

Fold ``i`` of recipe ``R`` lives in ``<runs>/<R>/fold<i>/`` (1-based): its ``split.json`` (train =
the other folds, validation = fold ``i``, test untouched), the run folder ``<model>/`` (checkpoints,
state, log, as for any run) and, once its epochs are done, ``joint.keras``: the model as its *last*
epoch left it. The held-out fold is only watched (its curves are in the log): picking an epoch on
it would leak it into the out-of-fold predictions that every later choice is made on.

A fold is finished when its run has done all the recipe's epochs; running the command again skips
finished folds and resumes unfinished ones (``--max-minutes`` bounds a stretch).

:func:`pack_folds` / :func:`unpack_folds` move finished folds between machines in little space:
float16 weights and the small text files of each fold (what a lent GPU machine can send back).
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np

from contract import JOINT_FILE, SPLIT_FILE
from training.callbacks import CONFIG_FILE, STATE_FILE
from training.config import TrainConfig, read_recipe
from training.folds import fold_split, read_folds

log = logging.getLogger(__name__)

#: The small files of a fold folder that travel with its weights (paths relative to the fold folder).
FOLD_TEXT_FILES = (
    "model_card.json",
    SPLIT_FILE,
    f"joint/{STATE_FILE}",
    f"joint/{CONFIG_FILE}",
    "joint/log.csv",
)


def recipe_name(recipe: str | Path) -> str:
    return Path(recipe).stem


def fold_dir(runs: str | Path, recipe: str | Path, fold: int) -> Path:
    """The folder of fold ``fold`` (0-based) of ``recipe`` under ``runs``."""
    return Path(runs) / recipe_name(recipe) / f"fold{fold + 1}"


def fold_finished(path: Path, model: str = "joint") -> bool:
    """Whether the fold in ``path`` has run all its epochs and saved its model."""
    state, config = path / model / STATE_FILE, path / model / CONFIG_FILE
    if not (state.exists() and config.exists() and (path / JOINT_FILE).exists()):
        return False
    return json.loads(state.read_text())["epochs_done"] >= json.loads(config.read_text())["epochs"]


def train_folds(
    recipe: str | Path,
    data: str,
    folds_file: str | Path,
    runs: str | Path,
    folds: list[int] | None = None,
    max_minutes: float = 0.0,
    workers: int = 1,
    verbose: int | str = 2,
) -> dict[int, bool]:
    """Train (or resume) ``recipe`` on each fold in ``folds`` (0-based; default all); returns
    ``{fold: finished}``."""
    from training.train import resume_config, train

    options = read_recipe(recipe)
    if options["model"] != "joint":
        raise ValueError(f"{recipe}: cross-validation trains joint models, not {options['model']!r}")
    definition = read_folds(folds_file)
    done = {}
    for i in range(definition["k"]) if folds is None else folds:
        path = fold_dir(runs, recipe, i)
        run_dir = path / options["model"]
        if fold_finished(path):
            log.info("%s: finished already", path)
        elif (run_dir / STATE_FILE).exists():
            train(resume_config(run_dir, max_minutes, workers=workers), verbose=verbose, resume=True)
        else:
            path.mkdir(parents=True, exist_ok=True)
            (path / SPLIT_FILE).write_text(json.dumps(fold_split(definition, i), indent=1) + "\n")
            init = options.get("init_weights")  # a template: "{runs}/<recipe>/fold{fold}/joint.keras"
            if init:
                init = init.format(runs=runs, fold=i + 1)
                if not Path(init).exists():
                    raise ValueError(f"{recipe}: fold {i + 1} starts from {init}, which does not exist yet")
            cfg = TrainConfig(
                **{
                    **options,
                    "data": str(data),
                    "out": str(path),
                    "runs": str(path),
                    "keep": "last",
                    "max_minutes": max_minutes,
                    "workers": workers,
                    "init_weights": init,
                }
            )
            train(cfg, verbose=verbose)
        done[i] = fold_finished(path)
        log.info("%s: %s", path, "finished" if done[i] else "stopped by its time budget; run again to resume")
    return done


def pack_folds(recipe_dir: str | Path, out_file: str | Path) -> list[str]:
    """Write the finished folds under ``recipe_dir`` into one ``.npz``: the model's architecture, its
    kernels as float16 (half the bytes; biases and normalisation statistics as they are) and the
    fold's small files. Returns the packed fold names."""
    import keras

    arrays, packed = {}, []
    for path in sorted(Path(recipe_dir).glob("fold*")):
        if not fold_finished(path):
            continue
        model = keras.saving.load_model(path / JOINT_FILE, compile=False)
        arrays[f"{path.name}/architecture"] = np.frombuffer(model.to_json().encode(), np.uint8)
        for j, w in enumerate(model.get_weights()):  # kernels in float16; biases and norms stay float32
            arrays[f"{path.name}/w{j}"] = w.astype(np.float16) if w.ndim > 1 else w
        for name in FOLD_TEXT_FILES:
            file = path / name
            if file.exists():
                arrays[f"{path.name}/file:{name}"] = np.frombuffer(file.read_bytes(), np.uint8)
        packed.append(path.name)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    Path(out_file).write_bytes(buffer.getvalue())
    log.info("packed %s into %s (%.1f MiB)", packed, out_file, Path(out_file).stat().st_size / 2**20)
    return packed


def unpack_folds(packed_file: str | Path, recipe_dir: str | Path) -> list[str]:
    """Re-create the fold folders of a :func:`pack_folds` file under ``recipe_dir`` (``joint.keras``
    with the float16 weights in float32 layers, and the fold's small files)."""
    import keras

    packed = np.load(packed_file)
    names = sorted({key.split("/")[0] for key in packed.files})
    for name in names:
        path = Path(recipe_dir) / name
        model = keras.models.model_from_json(packed[f"{name}/architecture"].tobytes().decode())
        count = len([k for k in packed.files if k.startswith(f"{name}/w")])
        model.set_weights([packed[f"{name}/w{j}"].astype(np.float32) for j in range(count)])
        for key in packed.files:
            if key.startswith(f"{name}/file:"):
                file = path / key.split("file:", 1)[1]
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_bytes(packed[key].tobytes())
        model.save(path / JOINT_FILE)
    log.info("unpacked %s into %s", names, recipe_dir)
    return names
