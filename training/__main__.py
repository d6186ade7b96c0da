"""Command line: ``python -m training {index,explore,train,evaluate,select,readme} ...`` (see ``--help``)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from training.config import (
    DEFAULT_DATA,
    DEFAULT_MODELS,
    DEFAULT_REPORTS,
    DEFAULT_RUNS,
    MODEL_KINDS,
    TrainConfig,
)

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
    idx = sub.add_parser("index", help="index the LGG folder into a CSV (like the original data_mask.csv)",
                         formatter_class=fmt)
    idx.add_argument("--data", default=str(DEFAULT_DATA), help=data_help)
    idx.add_argument("--output", default=str(DEFAULT_RUNS / "index.csv"), help="the CSV to write")

    exp = sub.add_parser("explore", help="write class-count and MRI/mask/overlay PNGs", formatter_class=fmt)
    exp.add_argument("--data", default=str(DEFAULT_DATA), help=data_help)
    exp.add_argument("--output", default=str(DEFAULT_REPORTS), help="folder for the PNGs")
    exp.add_argument("--samples", type=int, default=6, help="slices shown in samples.png")
    exp.add_argument("--seed", type=int, default=0, help="seed of the sample choice")

    tr = sub.add_parser("train", help="train the classifier, the segmenter, or both at once (joint)",
                        formatter_class=fmt)
    tr.add_argument("model", choices=MODEL_KINDS, nargs="?",
                    help="what to train (joint: the ResUNet with a classification head; it writes both models)")
    tr.add_argument("--resume", metavar="RUN_DIR", default=None,
                    help="continue the run in RUN_DIR exactly (its config; only --max-minutes may change)")
    defaults = TrainConfig(model="classifier")
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("model", "augment", "split_fractions"):
            continue
        default = getattr(defaults, f.name)
        kind = int if f.name == "max_slices" else type(default) if default is not None else str
        tr.add_argument("--" + f.name.replace("_", "-"), type=kind, default=default, help=f.metadata["help"])
    tr.add_argument("--augment", type=_setting, action="append", default=[], metavar="NAME=VALUE",
                    help="override an augmentation setting of training.dataset.Augment (flip, rotation, scale, "
                         "gain, shift, windowed, gamma, window_jitter, flair_only), e.g. --augment flair_only=0")
    tr.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")

    ev = sub.add_parser("evaluate", help="choose thresholds on validation, score the test patients",
                        formatter_class=fmt)
    ev.add_argument("--data", default=str(DEFAULT_DATA), help=data_help)
    ev.add_argument("--models", default=str(DEFAULT_MODELS), help="the models folder to evaluate (its card is updated)")
    ev.add_argument("--reports", default=str(DEFAULT_REPORTS), help="folder for the ROC and overlay PNGs")
    ev.add_argument("--max-slices", type=int, default=None, help="cap on slices per split part, for smoke runs")
    sel = sub.add_parser("select", formatter_class=fmt,
                         help="promote a candidate's models into the served folder by the declared rule "
                              "(training.selection); both folders evaluated first")
    sel.add_argument("--candidate", required=True, help="folder of the candidate models and their card")
    sel.add_argument("--models", default=str(DEFAULT_MODELS), help="the served models folder")
    sel.add_argument("--only", choices=["classifier", "segmenter"], default=None, help="compare one model only")
    cmp = sub.add_parser("compare", formatter_class=fmt,
                         help="record two evaluated runs that differ in one training choice (a training "
                              "ablation) in the served folder's training_ablation.json; promotes nothing")
    cmp.add_argument("--baseline", required=True, help="folder of the baseline run's models and card")
    cmp.add_argument("--variant", required=True, help="folder of the run with the one change")
    cmp.add_argument("--change", required=True, help="what the variant changed, e.g. 'upload augmentation off'")
    cmp.add_argument("--models", default=str(DEFAULT_MODELS), help="the served models folder (the record's home)")
    rd = sub.add_parser("readme", formatter_class=fmt,
                        help="rewrite the README's generated model tables from the model card (training.readme)")
    rd.add_argument("--models", default=str(DEFAULT_MODELS), help="the models folder whose card is shown")
    rd.add_argument("--readme", default=str(DEFAULT_MODELS.parent / "README.md"), help="the README to update")
    exp = sub.add_parser("export", formatter_class=fmt,
                         help="export every .keras model of a folder to ONNX beside it, checked against Keras, "
                              "named in its card (training.export)")
    exp.add_argument("models_dir", nargs="?", default=str(DEFAULT_MODELS), help="the models folder")
    exp.add_argument("--weights", choices=["float32", "float16"], default="float32",
                     help="storage type of the ONNX weights (float16: half the file, computation stays float32)")
    exp.add_argument("--files", nargs="+", default=None, metavar="NAME.keras",
                     help="export only these files of the folder (default: every .keras file)")
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    if args.command == "index":
        from training import data

        records = data.build_index(args.data)
        data.write_index(records, args.output)
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
    elif args.command == "readme":
        from contract import read_card
        from training.readme import update_readme

        changed = update_readme(args.readme, read_card(args.models))
        log.info("%s %s", args.readme, "updated" if changed else "already up to date")
    elif args.command == "compare":
        from training.selection import compare

        compare(args.baseline, args.variant, args.change, args.models)
    elif args.command == "export":
        from training.export import export_folder

        export_folder(args.models_dir, args.weights, args.files)
    elif args.command == "select":
        from training.selection import RULES, select

        select(args.candidate, args.models, (args.only,) if args.only else tuple(RULES))
    else:
        from training.evaluate import evaluate

        evaluate(args.data, args.models, args.reports, args.max_slices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
