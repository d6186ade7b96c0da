"""Command line: ``python -m training {index,explore,train,folds,cv,choose,ensemble,final,bench,wrap,patients,promote,evaluate,members,readme,export}``
(see ``--help``)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from contract import SPLIT_FILE
from training.config import (
    BASE_RECIPE,
    DEFAULT_DATA,
    DEFAULT_MODELS,
    DEFAULT_RECIPES,
    DEFAULT_REPORTS,
    DEFAULT_RUNS,
    MODEL_KINDS,
    TrainConfig,
)
from training.folds import DEFAULT_FOLDS, FOLDS_FILE
from training.model_tables import TARGET as MODELS_DOC

log = logging.getLogger("training")


def _setting(text: str) -> tuple[str, float | bool]:
    """``NAME=VALUE`` -> (name, number), or a boolean for ``true``/``false``."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    if value.lower() in ("true", "false"):
        return name, value.lower() == "true"
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: {value!r} is not a number or true/false") from None


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__, formatter_class=fmt)
    sub = p.add_subparsers(dest="command", required=True)

    data_help = "the LGG folder (kaggle_3m layout)"
    idx = sub.add_parser(
        "index", help="index the LGG folder into a CSV (like the original data_mask.csv)", formatter_class=fmt
    )
    idx.add_argument("--data", default=str(DEFAULT_DATA), help=data_help)
    idx.add_argument("--output", default=str(DEFAULT_RUNS / "index.csv"), help="the CSV to write")

    exp = sub.add_parser("explore", help="write class-count and MRI/mask/overlay PNGs", formatter_class=fmt)
    exp.add_argument("--data", default=str(DEFAULT_DATA), help=data_help)
    exp.add_argument("--output", default=str(DEFAULT_REPORTS), help="folder for the PNGs")
    exp.add_argument("--samples", type=int, default=6, help="slices shown in samples.png")
    exp.add_argument("--seed", type=int, default=0, help="seed of the sample choice")

    tr = sub.add_parser(
        "train", help="train the classifier, the segmenter, or both at once (joint)", formatter_class=fmt
    )
    tr.add_argument(
        "model",
        choices=MODEL_KINDS,
        nargs="?",
        help="what to train (joint: the ResUNet with a classification head; it writes both models)",
    )
    tr.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue the run in RUN_DIR exactly (its config; only --max-minutes may change)",
    )
    defaults = TrainConfig(model="classifier")
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("model", "augment", "split_fractions"):
            continue
        default = getattr(defaults, f.name)
        kind = int if f.name == "max_slices" else type(default) if default is not None else str
        tr.add_argument("--" + f.name.replace("_", "-"), type=kind, default=default, help=f.metadata["help"])
    tr.add_argument(
        "--augment",
        type=_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override an augmentation setting of training.batches.Augment (flip, rotation, scale, "
        "gain, shift, windowed, gamma, window_jitter, flair_only), e.g. --augment flair_only=0",
    )
    tr.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")

    fo = sub.add_parser(
        "folds",
        formatter_class=fmt,
        help="deal the development patients (all but split.json's test part) into "
        "cross-validation folds balanced by tumour slices: models/folds.json",
    )
    fo.add_argument("--data", default=str(DEFAULT_DATA), help=data_help)
    fo.add_argument(
        "--models", default=str(DEFAULT_MODELS), help="the folder of split.json; folds.json goes there"
    )
    fo.add_argument("--k", type=int, default=DEFAULT_FOLDS, help="number of folds")
    fo.add_argument("--seed", type=int, default=42, help="seed of the order among equal patients")
    cv = sub.add_parser(
        "cv",
        formatter_class=fmt,
        help="train a recipe on every fold from scratch (resumable); each fold's last-epoch "
        "joint model predicts its held-out patients",
    )
    cv.add_argument(
        "--recipe",
        required=True,
        help="a recipe file (training/recipes/*.toml); exit status 3 while folds are unfinished",
    )
    cv.add_argument("--data", default=str(DEFAULT_DATA), help=data_help)
    cv.add_argument("--folds", default=str(DEFAULT_MODELS / FOLDS_FILE), help="the folds file")
    cv.add_argument("--runs", default=str(DEFAULT_RUNS / "cv"), help="parent of <recipe>/fold<i>/")
    cv.add_argument(
        "--fold",
        type=int,
        action="append",
        default=None,
        help="train only this fold (1-based; repeat for several)",
    )
    cv.add_argument(
        "--max-minutes", type=float, default=0.0, help="time budget of each fold's stretch (0: none)"
    )
    cv.add_argument("--workers", type=int, default=1, help="threads preparing training batches")
    cv.add_argument(
        "--pack",
        default=None,
        metavar="FILE",
        help="afterwards, write the recipe's finished folds into FILE (.npz, float16 weights)",
    )
    cv.add_argument(
        "--unpack",
        default=None,
        metavar="FILE",
        help="only re-create the fold folders of a --pack FILE (trains nothing)",
    )
    ch = sub.add_parser(
        "choose",
        formatter_class=fmt,
        help="every serving choice on the folds' out-of-fold predictions (training.choose): "
        "thresholds, post-processing, gate, TTA, FLAIR members, input size; into the card",
    )
    ch.add_argument("--data", default=str(DEFAULT_DATA), help=data_help)
    ch.add_argument("--runs", default=str(DEFAULT_RUNS / "cv"), help="parent of the recipes' fold folders")
    ch.add_argument(
        "--models", default=str(DEFAULT_MODELS), help="the folder of folds.json; its card gets the choices"
    )
    ch.add_argument("--base", default=BASE_RECIPE, help="the recipe the choice starts from")
    ch.add_argument(
        "--recipes",
        default=str(DEFAULT_RECIPES),
        help="the recipes folder: each recipe's [choose] table says what it is weighed against",
    )
    en = sub.add_parser(
        "ensemble",
        formatter_class=fmt,
        help="write an ensemble (one model file of fold models) and its card entries into a candidate folder "
        "from the choices of python -m training choose",
    )
    en.add_argument("--runs", default=str(DEFAULT_RUNS / "cv"), help="parent of the recipes' fold folders")
    en.add_argument("--models", default=str(DEFAULT_MODELS), help="the served models folder")
    en.add_argument(
        "--members", type=int, required=True, help="fold models in the ensemble (the first N folds)"
    )
    en.add_argument(
        "--out",
        default=str(DEFAULT_RUNS / "candidate"),
        help="the candidate folder to write (python -m training promote decides whether it is served)",
    )
    ev = sub.add_parser(
        "evaluate",
        help="score the served folder on the test patients, once (its choices come "
        "from python -m training choose): slices, whole volumes, MODEL_CARD.md",
        formatter_class=fmt,
    )
    ev.add_argument("--data", default=str(DEFAULT_DATA), help=data_help)
    ev.add_argument(
        "--models", default=str(DEFAULT_MODELS), help="the models folder to evaluate (its card is updated)"
    )
    ev.add_argument("--reports", default=str(DEFAULT_REPORTS), help="folder for the ROC and overlay PNGs")
    ev.add_argument(
        "--max-slices", type=int, default=None, help="cap on slices per split part, for smoke runs"
    )
    mb = sub.add_parser(
        "members",
        formatter_class=fmt,
        help="test figures of ensembles of the first 1..n fold models (reported beside the "
        "latency choice of the member count, not acted on): into the card",
    )
    mb.add_argument("--data", default=str(DEFAULT_DATA), help=data_help)
    mb.add_argument("--runs", default=str(DEFAULT_RUNS / "cv"), help="parent of the recipes' fold folders")
    mb.add_argument("--models", default=str(DEFAULT_MODELS), help="the served models folder")
    mb.add_argument("--counts", type=int, nargs="+", default=[1, 2, 3, 4, 5], help="member counts to score")
    rd = sub.add_parser(
        "readme",
        formatter_class=fmt,
        help="rewrite the generated model tables of docs/models.md from the model card "
        "(training.model_tables)",
    )
    rd.add_argument("--models", default=str(DEFAULT_MODELS), help="the models folder whose card is shown")
    rd.add_argument("--readme", default=str(MODELS_DOC), help="the document to update")
    fi = sub.add_parser(
        "final",
        formatter_class=fmt,
        help="train a recipe on every development patient (training.final): the candidate for "
        "python -m training promote; run again to resume (exit status 3 while unfinished)",
    )
    fi.add_argument("--recipe", required=True, help="a recipe file (training/recipes/*.toml)")
    fi.add_argument("--data", default=str(DEFAULT_DATA), help=data_help)
    fi.add_argument("--models", default=str(DEFAULT_MODELS), help="the folder of split.json")
    fi.add_argument("--runs", default=str(DEFAULT_RUNS / "final"), help="parent of <recipe>/")
    fi.add_argument(
        "--init",
        default=None,
        metavar="PATH",
        help="start from these weights (a .keras file, or a served file whose half matches the model)",
    )
    fi.add_argument("--max-minutes", type=float, default=0.0, help="time budget of this stretch (0: none)")
    fi.add_argument("--workers", type=int, default=1, help="threads preparing training batches")
    be = sub.add_parser(
        "bench",
        formatter_class=fmt,
        help="training slices/s of a recipe on this machine (training.bench): augmentation and "
        "network in one compiled step, synthetic slices",
    )
    be.add_argument("recipe", help="a recipe file (training/recipes/*.toml)")
    be.add_argument("--steps", type=int, default=20, help="timed training steps")
    be.add_argument("--warmup", type=int, default=3, help="untimed steps first (tracing, compilation)")
    be.add_argument("--batch-size", type=int, default=None, help="instead of the recipe's batch size")
    wr = sub.add_parser(
        "wrap",
        formatter_class=fmt,
        help="a classifier file and a segmenter file as one served model file (joint.keras, "
        "its ONNX export and card; training.wrap)",
    )
    wr.add_argument("--classifier", required=True, help="the classifier (.keras, one (N, 1) output)")
    wr.add_argument("--segmenter", required=True, help="the segmenter (.keras, one (N, S, S, 1) output)")
    wr.add_argument(
        "--card",
        default=None,
        metavar="DIR",
        help="the folder whose card gives thresholds, post-processing and gates (e.g. where the "
        "two networks were chosen)",
    )
    wr.add_argument("--out", required=True, help="the models folder to write")
    pa = sub.add_parser(
        "patients",
        formatter_class=fmt,
        help="the test patients worst first, with institution, tumour size and FLAIR intensities "
        "(training.patients): into the card",
    )
    pa.add_argument("--data", default=str(DEFAULT_DATA), help=data_help)
    pa.add_argument("--models", default=str(DEFAULT_MODELS), help="the models folder (evaluated)")
    pr = sub.add_parser(
        "promote",
        formatter_class=fmt,
        help="the promotion gate: score a candidate folder and the served one on the same test "
        "patients, paired, with intervals; replace the served folder only if the candidate is "
        "not worse (training.promote); exit status 4 when refused",
    )
    pr.add_argument(
        "candidate", help="the candidate models folder (one model file, its card and ONNX export)"
    )
    pr.add_argument("--served", default=str(DEFAULT_MODELS), help="the served models folder")
    pr.add_argument("--data", default=str(DEFAULT_DATA), help=data_help)
    pr.add_argument("--volumes", action="store_true", help="also report the /volume Dice of both (slower)")
    pr.add_argument("--dry-run", action="store_true", help="compare and record, replace nothing")
    pr.add_argument("--max-slices", type=int, default=None, help="cap on test slices, for smoke runs")
    exp = sub.add_parser(
        "export",
        formatter_class=fmt,
        help="export every .keras model of a folder to ONNX beside it, checked against Keras, "
        "named in its card (training.export)",
    )
    exp.add_argument("models_dir", nargs="?", default=str(DEFAULT_MODELS), help="the models folder")
    exp.add_argument(
        "--weights",
        choices=["float32", "float16"],
        default="float32",
        help="storage type of the ONNX weights (float16: half the file, computation stays float32)",
    )
    exp.add_argument(
        "--files",
        nargs="+",
        default=None,
        metavar="NAME.keras",
        help="export only these files of the folder (default: every .keras file)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    if args.command == "index":
        from training import lgg

        records = lgg.build_index(args.data)
        lgg.write_index(records, args.output)
        log.info("wrote %d rows to %s", len(records), args.output)
    elif args.command == "explore":
        from training import explore

        explore.run(args.data, args.output, args.samples, args.seed)
    elif args.command == "train":
        from training.train import resume_config, train

        verbose = 2 if args.quiet else "auto"
        if args.resume:
            train(resume_config(args.resume, args.max_minutes), verbose=verbose, resume=True)
            return 0
        if args.model is None:
            raise SystemExit("python -m training train: give the model to train, or --resume RUN_DIR")
        options = {k: v for k, v in vars(args).items() if k not in ("command", "quiet", "augment", "resume")}
        options["augment"] = dict(args.augment)
        train(TrainConfig(**options), verbose=verbose)
    elif args.command == "folds":
        import json

        from training import lgg
        from training.folds import make_folds, write_folds

        split = json.loads((Path(args.models) / SPLIT_FILE).read_text())
        folds = make_folds(lgg.build_index(args.data), split["patients"]["test"], args.k, args.seed)
        log.info(
            "wrote %s: tumour slices per fold %s", write_folds(folds, args.models), folds["tumour_slices"]
        )
    elif args.command == "cv":
        from training.cv import pack_folds, recipe_name, train_folds, unpack_folds

        recipe_dir = Path(args.runs) / recipe_name(args.recipe)
        if args.unpack:
            unpack_folds(args.unpack, recipe_dir)
            return 0
        folds = None if args.fold is None else [f - 1 for f in args.fold]
        done = train_folds(
            args.recipe, args.data, args.folds, args.runs, folds, args.max_minutes, args.workers
        )
        if args.pack:
            pack_folds(recipe_dir, args.pack)
        if not all(done.values()):
            log.info("unfinished folds: run the same command again to resume them")
            return 3
    elif args.command == "choose":
        from training.choose import choose

        choose(args.data, args.runs, args.models, args.base, args.recipes)
    elif args.command == "ensemble":
        from training.ensemble import write_served

        write_served(args.runs, args.models, args.members, args.out)
    elif args.command == "readme":
        from contract import read_card
        from training.model_tables import update_readme

        changed = update_readme(args.readme, read_card(args.models))
        log.info("%s %s", args.readme, "updated" if changed else "already up to date")
    elif args.command == "members":
        from training.evaluate import members

        members(args.data, args.runs, args.models, args.counts)
    elif args.command == "final":
        from training.final import train_final

        done = train_final(
            args.recipe, args.data, args.models, args.runs, args.init, args.max_minutes, args.workers
        )
        return 0 if done else 3
    elif args.command == "bench":
        from training.bench import bench, line

        sys.stdout.write(
            line(bench(args.recipe, args.steps, args.warmup, args.batch_size)) + "\n"
        )  # the figure
    elif args.command == "patients":
        from training.patients import patients_table

        patients_table(args.data, args.models)
    elif args.command == "promote":
        from training.promote import PROMOTED, REFUSED, promote

        record = promote(args.data, args.candidate, args.served, args.max_slices, args.volumes, args.dry_run)
        return REFUSED if record["broken_rules"] else PROMOTED
    elif args.command == "wrap":
        from training.wrap import wrap

        wrap(args.classifier, args.segmenter, args.out, args.card)
    elif args.command == "export":
        from training.export import export_folder

        export_folder(args.models_dir, args.weights, args.files)
    else:
        from training.evaluate import evaluate

        evaluate(args.data, args.models, args.reports, args.max_slices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
