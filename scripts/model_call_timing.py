"""In-process timing of the service's model call on one slice: what an /analyze request cannot beat.

Loads a models folder exactly as the service does (``service.inference.load_models``, one
runtime, thread count and precision: ``NAME:THREADS[:PRECISION]``, batching off), decodes one
slice as the service does, and times, one call after the other:

- ``served``: the model calls /analyze makes for that slice (each file's ``call_model``: its lock,
  the served test-time augmentation);
- ``none`` / ``flip``: one call of the model file without / with flip test-time augmentation
  (:mod:`contract.tta`), whatever is served: ``flip - none`` is what the flip pass costs;
- ``pipeline``: the whole in-process /analyze work (decoding, model call, masks, the JSON answer).

    python -m scripts.model_call_timing --runtime onnxruntime:2 --n 50      # prints the medians

``--serve`` answers lines ``N [KIND ...]`` on stdin with one JSON object of N timings (ms) per kind
(default: all), for ``scripts.benchmark_service`` (same run as its HTTP figures).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from scripts.serving import REPO

DEFAULT_IMAGE = REPO / "tests/fixtures/lgg/kaggle_3m/TCGA_CS_4942_19970222/TCGA_CS_4942_19970222_11.tif"
KINDS = ("served", "none", "flip", "pipeline")


def parse_candidate(text: str):
    """``NAME:THREADS[:PRECISION]`` -> :class:`service.runtimes.selection.Candidate`."""
    from service.runtimes.selection import Candidate

    name, threads, *precision = text.split(":")
    return Candidate(name, int(threads), precision[0] if precision else None)


class Timer:
    """The loaded models and the decoded slice; :meth:`measure` times each kind ``n`` times, interleaved."""

    def __init__(self, models_dir: Path, candidate: str, image: Path, tta: str = "card") -> None:
        from contract.tta import with_tta
        from service import pipeline
        from service.images import ImageLimits
        from service.inference import load_models
        from service.settings import Settings

        self.pipeline, self.limits = pipeline, ImageLimits()
        self.models = load_models(
            Settings(models_dir=models_dir, batching=False, tta=tta), candidate=parse_candidate(candidate)
        )
        self.upload = pipeline.Upload("file", image.read_bytes(), None)
        slices = pipeline.decode_uploads([self.upload], self.limits)
        runner = self.models.classifier
        self.batch = runner.prepare([slices[0].pixels])
        files = list(self.models.files.values())
        self.calls = {
            "served": lambda: [f.call_model(self.batch) for f in files],
            "none": lambda: [with_tta(f.model.run, "none")(self.batch) for f in files],
            "flip": lambda: [with_tta(f.model.run, "flip")(self.batch) for f in files],
            "pipeline": self.analyze,
        }
        for call in self.calls.values():  # warm-up
            call()

    def analyze(self) -> bytes:
        from service.schemas import Analysis

        slices = self.pipeline.decode_uploads([self.upload], self.limits)
        result = self.pipeline.analyze(self.models, slices, "rle")[0]
        return Analysis.model_validate(result).model_dump_json().encode()

    def measure(self, n: int, kinds: tuple[str, ...] = KINDS) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(n):
            for kind in kinds:
                call = self.calls[kind]
                start = time.perf_counter()
                call()
                out[kind].append((time.perf_counter() - start) * 1000)
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--runtime", required=True, help="NAME:THREADS[:PRECISION], e.g. onnxruntime:2")
    parser.add_argument("--tta", default="card", choices=("card", "flip", "none"), help="as MRI_TTA")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--serve", action="store_true", help="answer lines N on stdin (benchmark_service.py)")
    args = parser.parse_args(argv)
    timer = Timer(args.models_dir, args.runtime, args.image, args.tta)
    if args.serve:
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            n, *kinds = line.split()
            print(json.dumps(timer.measure(int(n), tuple(kinds) or KINDS)), flush=True)
        return 0
    for kind, values in timer.measure(args.n).items():
        print(f"{kind}: {np.median(values):.2f} ms (median of {args.n})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
