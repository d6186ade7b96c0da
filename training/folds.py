"""Cross-validation folds over the development patients (every patient outside the test split).

``models/folds.json`` holds ``{"seed", "k", "test": [...], "folds": [[patients of fold 1], ...],
"tumour_slices": [...], "slices": [...]}``. The folds partition the development patients (today's
train + validation parts of ``split.json``); the test patients stay out of every fold, so a fold
model never sees them and they are scored once, at the end. Patients are dealt to folds so that
each fold holds about the same number of tumour slices: largest first, each to the fold with the
fewest tumour slices so far (ties: fewest slices, then the seeded order).

Fold ``i``'s model trains on the other folds' patients and predicts fold ``i``'s: its out-of-fold
predictions. Together the folds' out-of-fold predictions cover every development patient once.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

from training.lgg import SliceRecord

FOLDS_FILE = "folds.json"
DEFAULT_FOLDS = 5


def make_folds(records: list[SliceRecord], test: list[str], k: int = DEFAULT_FOLDS, seed: int = 42) -> dict:
    """Deal the patients of ``records`` outside ``test`` into ``k`` folds balanced by tumour slices."""
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    tumour, slices = Counter(), Counter()
    for r in records:
        slices[r.patient] += 1
        tumour[r.patient] += r.has_tumour
    held_out = set(test)
    patients = sorted(p for p in slices if p not in held_out)
    if len(patients) < k:
        raise ValueError(f"{len(patients)} development patients cannot fill {k} folds")
    random.Random(seed).shuffle(patients)
    patients.sort(key=lambda p: -tumour[p])  # stable: the shuffle breaks ties
    folds: list[list[str]] = [[] for _ in range(k)]
    for p in patients:
        i = min(
            range(k),
            key=lambda f: (sum(tumour[q] for q in folds[f]), sum(slices[q] for q in folds[f]), len(folds[f])),
        )
        folds[i].append(p)
    folds = [sorted(f) for f in folds]
    return {
        "seed": seed,
        "k": k,
        "test": sorted(held_out),
        "folds": folds,
        "tumour_slices": [sum(tumour[p] for p in f) for f in folds],
        "slices": [sum(slices[p] for p in f) for f in folds],
    }


def fold_split(folds: dict, fold: int) -> dict:
    """The patient split of fold ``fold`` (0-based) in ``split.json`` form: train on the other folds,
    ``validation`` = the held-out fold (monitored, never used to pick an epoch), test untouched."""
    if not 0 <= fold < folds["k"]:
        raise ValueError(f"fold must be in 0..{folds['k'] - 1}, got {fold}")
    train = sorted(p for i, f in enumerate(folds["folds"]) if i != fold for p in f)
    return {
        "seed": folds["seed"],
        "fold": fold,
        "k": folds["k"],
        "patients": {"train": train, "validation": list(folds["folds"][fold]), "test": list(folds["test"])},
    }


def read_folds(path: str | Path) -> dict:
    """Read a folds file written by :func:`write_folds` (a folder is read as ``<folder>/folds.json``)."""
    path = Path(path)
    return json.loads((path / FOLDS_FILE if path.is_dir() else path).read_text())


def write_folds(folds: dict, models_dir: str | Path) -> Path:
    """Write ``folds.json`` into a models folder and return its path."""
    path = Path(models_dir) / FOLDS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(folds, indent=1) + "\n")
    return path
