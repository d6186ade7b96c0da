"""How far each runtime's answers are from Keras' on real slices, for float32 or float16 ONNX weights.

Loads the models folder with every runtime (``MRI_RUNTIME``), runs the service's own
classification and segmentation (:mod:`service.pipeline`) on the LGG fixtures and the LGG sample
(``../shared/data/lgg-tif-sample``) and prints, per runtime, the largest tumour-probability
difference from Keras (slice and pixel), how many verdicts and masks differ, and the ONNX file
sizes. ``--weights float16`` first exports a copy of the folder with float16 weights
(``python -m training export --weights float16``) and measures that copy.

    python -m scripts.runtime_parity                      # the bundled models as committed
    python -m scripts.runtime_parity --weights float16    # the same with float16 ONNX weights
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from contract.exports import EXPORTS_KEY
from contract.spec import read_card
from service import pipeline
from service.images import ImageLimits, decode_image
from service.inference import load_models
from service.runtimes import RUNTIMES
from service.settings import Settings

REPO = Path(__file__).resolve().parents[1]

FOLDERS = (REPO / "tests" / "fixtures" / "lgg", REPO.parent / "shared" / "data" / "lgg-tif-sample")


def answers(models_dir: Path, runtime: str, slices: list) -> dict:
    models = load_models(Settings(models_dir=models_dir, runtime=runtime, batching=False))
    pixels = [s.pixels for s in slices]
    return {
        "classify": pipeline.classify(models, slices),
        "segment": pipeline.segment(models, slices, "rle"),
        "pixels": models.segmenter.predict(models.segmenter.prepare(pixels)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=REPO / "models", help="the models folder")
    parser.add_argument(
        "--weights",
        choices=["float32", "float16"],
        default=None,
        help="re-export a copy with these ONNX weights first (default: measure the folder as it is)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    paths = sorted(
        p
        for folder in FOLDERS
        for p in folder.rglob("*")
        if p.suffix in {".tif", ".jpg"} and not p.stem.endswith("_mask")
    )
    slices = [decode_image(p.read_bytes(), None, ImageLimits()) for p in paths]
    with tempfile.TemporaryDirectory() as tmp:
        models_dir = args.models_dir
        if args.weights:
            from training.export import export_folder

            models_dir = Path(tmp) / "models"
            shutil.copytree(args.models_dir, models_dir)
            export_folder(models_dir, args.weights)
        exports = read_card(models_dir).get(EXPORTS_KEY, {})
        sizes = ", ".join(
            f"{e['file']} {e['bytes'] / 2**20:.1f} MiB ({e['weights']})" for e in exports.values()
        )
        print(f"{len(slices)} slices ({', '.join(os.path.relpath(f, REPO) for f in FOLDERS)}); {sizes}")
        reference = answers(models_dir, "keras", slices)
        print(
            "| runtime | max slice probability diff | max pixel probability diff | verdicts differ | masks differ |"
        )
        print("|---|---|---|---|---|")
        for runtime in (r for r in RUNTIMES if r != "keras"):
            got = answers(models_dir, runtime, slices)
            pairs = list(zip(reference["classify"], got["classify"], strict=True))
            masks = zip(reference["segment"], got["segment"], strict=True)
            print(
                f"| {runtime} "
                f"| {max(abs(a.tumour_probability - b.tumour_probability) for a, b in pairs):.2g} "
                f"| {float(np.max(np.abs(reference['pixels'] - got['pixels']))):.2g} "
                f"| {sum(a.has_tumour != b.has_tumour for a, b in pairs)} of {len(pairs)} "
                f"| {sum(a.mask.counts != b.mask.counts for a, b in masks)} of {len(pairs)} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
