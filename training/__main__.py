"""Command line: ``python -m training {index,explore,train,evaluate} ...`` (see ``--help``)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from training.config import DEFAULT_DATA, DEFAULT_MODELS, DEFAULT_REPORTS, DEFAULT_RUNS, TrainConfig


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
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    idx = sub.add_parser("index", help="index the LGG folder into a CSV (like the original data_mask.csv)")
    idx.add_argument("--data", default=str(DEFAULT_DATA))
    idx.add_argument("--output", default=str(DEFAULT_RUNS / "index.csv"))

    exp = sub.add_parser("explore", help="write class-count and MRI/mask/overlay PNGs")
    exp.add_argument("--data", default=str(DEFAULT_DATA))
    exp.add_argument("--output", default=str(DEFAULT_REPORTS))
    exp.add_argument("--samples", type=int, default=6)
    exp.add_argument("--seed", type=int, default=0)

    tr = sub.add_parser("train", help="train the classifier or the segmenter")
    tr.add_argument("model", choices=["classifier", "segmenter"])
    defaults = TrainConfig(model="classifier")
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("model", "augment", "split_fractions"):
            continue
        default = getattr(defaults, f.name)
        kind = type(default) if default is not None else str
        if f.name == "max_slices":
            kind = int
        tr.add_argument("--" + f.name.replace("_", "-"), type=kind, default=default)
    tr.add_argument("--augment", type=_setting, action="append", default=[], metavar="NAME=VALUE",
                    help="override an augmentation setting of training.dataset.Augment (flip, rotation, scale, "
                         "gain, shift, flair_only), e.g. --augment flair_only=0 --augment rotation=15")
    tr.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")

    ev = sub.add_parser("evaluate", help="choose thresholds on validation, score the test patients")
    ev.add_argument("--data", default=str(DEFAULT_DATA))
    ev.add_argument("--models", default=str(DEFAULT_MODELS))
    ev.add_argument("--reports", default=str(DEFAULT_REPORTS))
    ev.add_argument("--max-slices", type=int, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    if args.command == "index":
        from training import data

        records = data.build_index(args.data)
        data.write_index(records, args.output)
        logging.info("wrote %d rows to %s", len(records), args.output)
    elif args.command == "explore":
        from training import explore

        explore.run(args.data, args.output, args.samples, args.seed)
    elif args.command == "train":
        from training.train import train

        options = {k: v for k, v in vars(args).items() if k not in ("command", "quiet", "augment")}
        options["augment"] = dict(args.augment)
        train(TrainConfig(**options), verbose=2 if args.quiet else "auto")
    else:
        from training.evaluate import evaluate

        evaluate(args.data, args.models, args.reports, args.max_slices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
