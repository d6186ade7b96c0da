"""Every serving choice on out-of-fold predictions of all development patients (``python -m training choose``).

The rules, declared before the runs they judge. A difference is judged by a paired patient
bootstrap (:mod:`training.intervals`, 95% interval); the costlier option is taken only when the
whole interval of its gain lies above 0, otherwise the cheaper one:

- **recipes**: the choice starts from the base recipe (``--base``); every recipe whose ``[choose]``
  table says it ``replaces`` the current one (``training/recipes/*.toml``, :func:`training.config.read_choice`:
  256 pixels at 4x the compute, 30 epochs instead of 14, ...) is weighed against it when its folds
  exist, and replaces it only if its folds raise the three-sequence mean per-patient Dice (the
  largest such gain wins; then the recipes that replace the winner are weighed, and so on);
- **flip test-time augmentation** (two passes per slice) replaces one pass only if it raises the
  three-sequence mean per-patient Dice;
- **FLAIR members**: FLAIR-only input is served by the fold models of the recipe whose ``[choose]``
  table names it ``flair_members_of`` the chosen recipe (a second set of members to store and load)
  only if they raise the FLAIR-only mean per-patient Dice over the three-sequence models fed FLAIR;
- **gate** (which slices are tumour slices: get a mask in ``/analyze``, count in ``/volume``): the
  classifier's verdict (the status quo), the mask's presence, or both; another gate replaces the
  classifier's only if it raises the slice accuracy of the verdict (same cost: the status quo
  stays when the interval holds 0);
- **thresholds and post-processing**, per input path (no cost difference): the classifier threshold
  is the median of the accuracy-maximising thresholds of patient resamples, the segmenter's pixel
  threshold and post-processing the combination with the best mean per-patient Dice
  (:mod:`training.thresholds`);
- **``/volume``**: the intensity targets of the volume window and the 3-D post-processing
  (:mod:`training.volume_choices`).

The member count of the served ensemble is not chosen here (out-of-fold predictions come from one
model each): it is a latency choice (``python -m training ensemble``, docs/models.md).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from contract import read_card, write_card
from training import intervals, metrics, thresholds
from training.config import BASE_RECIPE, DEFAULT_RECIPES, discover_recipes
from training.folds import read_folds
from training.oof import Development, load_development, out_of_fold
from training.volume_choices import choose_postprocess, intensity_targets, volume_dice

log = logging.getLogger(__name__)

GATES = ("classifier", "mask", "both")


def _masks(oof: dict, truth_size: int, seg: dict) -> np.ndarray:
    return thresholds.masks(oof["mask"], seg["threshold"], truth_size, seg["postprocess"])


def _patient_dice(truth: np.ndarray, pred: np.ndarray, groups) -> np.ndarray:
    return np.array([metrics.dice(truth[rows], pred[rows]) for rows in groups])


def path_choices(dev: Development, oof: dict) -> dict:
    """Thresholds and post-processing for one input path, and its per-patient Dice at them."""
    clf = thresholds.choose_classifier_threshold(dev.has_tumour, oof["prob"], dev.patients)
    seg = thresholds.choose_segmenter(dev.truth, oof["mask"], dev.patients)
    pred = _masks(oof, dev.truth.shape[1], seg)
    return {
        "classifier": clf,
        "segmenter": {k: v for k, v in seg.items() if k != "sweep"},
        "pred": pred,
        "patient_dice": _patient_dice(dev.truth, pred, intervals.patient_groups(dev.patients)),
    }


def verdicts(oof: dict, pred: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """Slice verdicts of each gate: classifier probability at its threshold, mask drawn, or both."""
    drawn = pred.reshape(len(pred), -1).any(axis=1)
    called = oof["prob"] >= threshold
    return {"classifier": called, "mask": drawn, "both": called & drawn}


def table(dev: Development, oof: dict, chosen: dict, gate: str) -> dict:
    """The out-of-fold figures of one path with intervals (slice ROC AUC, verdict accuracy, sensitivity
    and specificity, per-patient Dice of the served masks, healthy slices given a mask)."""
    groups = intervals.patient_groups(dev.patients)
    has, prob, threshold = dev.has_tumour, oof["prob"], chosen["classifier"]["threshold"]
    verdict = verdicts(oof, chosen["pred"], threshold)[gate]
    served = chosen["pred"] & verdict[:, None, None]
    dice = _patient_dice(dev.truth, served, groups)
    drawn = served.reshape(len(served), -1).any(axis=1)

    return {
        "patients": len(groups),
        "slices": len(has),
        "tumour_slices": int(has.sum()),
        "gate": gate,
        "classifier_threshold": threshold,
        "segmenter_threshold": chosen["segmenter"]["threshold"],
        "patient_dice_mean": intervals.mean_interval(dice),
        "patient_dice_median": intervals.median_interval(dice),
        "patient_dice_worst": {
            "value": float(dice.min()),
            "patient": sorted(set(dev.patients))[int(dice.argmin())],
        },
        "roc_auc": intervals.slice_interval(groups, lambda r: metrics.roc_auc(has[r], prob[r])),
        "accuracy": intervals.slice_interval(groups, lambda r: float((verdict[r] == has[r]).mean())),
        "sensitivity": intervals.slice_interval(groups, lambda r: _mean(verdict[r][has[r]])),
        "specificity": intervals.slice_interval(groups, lambda r: _mean(~verdict[r][~has[r]])),
        "healthy_slices_masked": intervals.slice_interval(groups, lambda r: _mean(drawn[r][~has[r]])),
        "classifier_accuracy": intervals.slice_interval(
            groups, lambda r: float(((prob[r] >= threshold) == has[r]).mean())
        ),
    }


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _compare(name: str, gain: dict, rule: str) -> dict:
    taken = intervals.above_zero(gain)
    log.info(
        "%s: gain %.4f [%.4f, %.4f] -> %s",
        name,
        gain["value"],
        gain["low"],
        gain["high"],
        "taken" if taken else "not taken",
    )
    return {"gain": gain, "taken": taken, "rule": rule}


def _gate(dev: Development, oof: dict, chosen: dict) -> dict:
    groups = intervals.patient_groups(dev.patients)
    v = verdicts(oof, chosen["pred"], chosen["classifier"]["threshold"])
    right = {g: (v[g] == dev.has_tumour) for g in GATES}
    rows = {}
    for g in GATES[1:]:
        rows[g] = intervals.slice_interval(
            groups, lambda r, g=g: float(right[g][r].mean() - right["classifier"][r].mean())
        )
    taken = [g for g in GATES[1:] if intervals.above_zero(rows[g])]
    best = max(taken, key=lambda g: rows[g]["value"]) if taken else "classifier"
    return {
        "gate": best,
        "accuracy_gain_over_classifier": rows,
        "accuracy": {g: float(right[g].mean()) for g in GATES},
        "rule": "the classifier's verdict unless another gate raises the slice accuracy (interval above 0)",
    }


def _challenge(
    recipe_dir: Path, dev: Development, current: dict, label: str, rule: str
) -> tuple[dict, dict, dict]:
    """Whether the three-sequence folds of ``recipe_dir`` replace the ``current`` path choices: the
    decision (:func:`_compare` of the per-patient Dice), their out-of-fold predictions and path choices."""
    oof = out_of_fold(recipe_dir, dev, "three", "none")
    path = path_choices(dev, oof)
    gain = intervals.difference_interval(path["patient_dice"], current["patient_dice"])
    return _compare(label, gain, rule), oof, path


def _weigh_recipes(runs: Path, dev: Development, recipes: dict[str, dict], base: str, k: int):
    """The three-sequence recipe chosen from ``base`` by the recipes' ``replaces`` (module docstring): its
    name, out-of-fold predictions and path choices, and the decision of every recipe weighed."""
    recipe = base
    plain = out_of_fold(runs / base, dev, "three", "none")
    path = path_choices(dev, plain)
    decisions: dict[str, dict] = {}
    while True:
        challengers = {name: c for name, c in recipes.items() if c.get("replaces") == recipe}
        weighed = []
        for name, c in challengers.items():
            rule = f"{name} replaces {recipe} only if it raises the mean per-patient Dice"
            if not (runs / name / f"fold{k}").exists():
                decisions[c["question"]] = {
                    "taken": False,
                    "recipe": name,
                    "label": c.get("label", name),
                    "rule": rule,
                    "note": f"no {name} folds: not trained ({recipe} kept)",
                }
                continue
            decision, oof, own = _challenge(runs / name, dev, path, name, rule)
            decisions[c["question"]] = {**decision, "recipe": name, "label": c.get("label", name)}
            if decision["taken"]:
                weighed.append((decision["gain"]["value"], name, oof, own))
        if not weighed:
            return recipe, plain, path, decisions
        _, recipe, plain, path = max(weighed, key=lambda w: w[0])


def choose(
    data: str,
    runs: str | Path,
    models_dir: str | Path,
    base: str = BASE_RECIPE,
    recipes_dir: str | Path = DEFAULT_RECIPES,
) -> dict:
    """Make every choice of the module docstring on the folds under ``runs`` of the recipes of ``recipes_dir``
    (starting from ``base``; the others weighed by their ``[choose]`` tables when their folds exist); write
    the choices and the out-of-fold tables into the card of ``models_dir`` (``cross_validation``: a record;
    nothing served changes, ``python -m training ensemble`` builds a candidate from it) and return that entry."""
    runs = Path(runs)
    folds = read_folds(models_dir)
    dev = load_development(data, folds)
    recipes = discover_recipes(recipes_dir)
    recipe, plain, plain_path, decisions = _weigh_recipes(runs, dev, recipes, base, folds["k"])
    flair = next((name for name, c in recipes.items() if c.get("flair_members_of") == recipe), None)
    flip = out_of_fold(runs / recipe, dev, "three", "flip")
    flip_path = path_choices(dev, flip)
    decisions["tta"] = _compare(
        "flip TTA",
        intervals.difference_interval(flip_path["patient_dice"], plain_path["patient_dice"]),
        "two passes only if they raise the mean per-patient Dice",
    )
    tta = "flip" if decisions["tta"]["taken"] else "none"
    three, three_oof = (flip_path, flip) if tta == "flip" else (plain_path, plain)

    fed_flair = out_of_fold(runs / recipe, dev, "flair", tta)
    fed_path = path_choices(dev, fed_flair)
    flair_path, flair_oof, flair_recipe = fed_path, fed_flair, recipe
    if flair and (runs / flair / f"fold{folds['k']}").exists():
        own = out_of_fold(runs / flair, dev, "flair", tta)
        own_path = path_choices(dev, own)
        decisions["flair_members"] = _compare(
            "FLAIR members",
            intervals.difference_interval(own_path["patient_dice"], fed_path["patient_dice"]),
            "FLAIR members only if they raise the FLAIR-only mean per-patient Dice",
        )
        if decisions["flair_members"]["taken"]:
            flair_path, flair_oof, flair_recipe = own_path, own, flair
    else:
        decisions["flair_members"] = {"taken": False, "note": f"no {flair} folds"}
    decisions["gate"] = _gate(dev, three_oof, three)
    gate = decisions["gate"]["gate"]
    entry = {
        "folds": folds,
        "recipes": {"three": recipe, "flair": flair_recipe},
        "tta": tta,
        "gate": gate,
        "decisions": decisions,
        "paths": {
            name: {
                "classifier": chosen["classifier"],
                "segmenter": chosen["segmenter"],
                "out_of_fold": table(dev, oof, chosen, gate),
            }
            for name, chosen, oof in (("three", three, three_oof), ("flair", flair_path, flair_oof))
        },
        "resamples": intervals.RESAMPLES,
        "command": "python -m training choose",
    }
    targets = intensity_targets(dev)
    entry["volume"] = choose_postprocess(
        volume_dice(dev, runs, entry["recipes"], {"three": three, "flair": flair_path}, gate, targets)
    )
    entry["volume"]["intensity_targets"] = list(targets)
    log.info(
        "choices: tta %s, gate %s, FLAIR path %s; out-of-fold Dice %s",
        tta,
        gate,
        flair_recipe,
        {k: v["out_of_fold"]["patient_dice_mean"] for k, v in entry["paths"].items()},
    )
    entry["training"] = {
        name: recipe_summary(runs / name, folds["k"]) for name in dict.fromkeys(entry["recipes"].values())
    }
    entry["data"] = read_card(runs / recipe / "fold1").get("data", {})
    card = read_card(models_dir)  # the record of the choices only: what is served changes through the gate
    card["cross_validation"] = entry
    write_card(models_dir, card)
    return entry


def recipe_summary(recipe_dir: Path, k: int) -> dict:
    """What the fold runs of a recipe were: its configuration, the machine, the epochs and seconds of each fold."""
    cards = [
        read_card(recipe_dir / f"fold{i + 1}").get("models", {}).get("segmenter", {}).get("training", {})
        for i in range(k)
    ]
    first = cards[0]
    config = {
        key: value
        for key, value in first.get("config", {}).items()
        if key not in ("data", "out", "runs", "max_minutes", "workers", "max_slices")
    }
    return {
        "config": config,
        "image_size": config.get("image_size"),
        "epochs": config.get("epochs"),
        "device": first.get("device", {}),
        "duration_s": [c.get("duration_s") for c in cards],
        "epochs_run": [c.get("epochs_run") for c in cards],
    }
