"""Choose the /volume defaults on the validation patients and print the figures.

Runs :func:`training.volume_eval.evaluate_volumes` on the validation part (RAS layout; FLAIR only
and three sequences) for every 3-D post-processing, with and without classifier gating, and once
with the volume fed as its raw 8-bit values instead of the per-volume percentile window. The rule
(declared before the figures): the highest mean per-patient Dice averaged over the two sequence
sets; a difference under 0.001 is a tie, won by the simpler option (no gating; none < drop_small <
largest). Writes reports/volume_choices_validation.json.

    python scripts/volume_choices.py
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from contract.volume import POSTPROCESS_CHOICES
from training.volume_eval import DEFAULT_DATA, evaluate_volumes


def raw_8bit(volume: np.ndarray) -> np.ndarray:
    """The alternative measured against the percentile window: the stored 8-bit values as they are."""
    volume = np.asarray(volume).astype(np.uint8)
    return np.repeat(volume[..., None], 3, axis=-1) if volume.ndim == 3 else volume


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--output", default="reports/volume_choices_validation.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = {}
    for gate in (False, True):
        report = evaluate_volumes(args.data, args.models_dir, "validation", layouts=["RAS"],
                                  postprocess=POSTPROCESS_CHOICES, gate=gate)
        for key, entry in report["results"].items():
            rows[f"gate={gate}/{key}"] = entry
    report = evaluate_volumes(args.data, args.models_dir, "validation", layouts=["RAS"], postprocess=["none"],
                              gate=False, normalise=raw_8bit)
    for key, entry in report["results"].items():
        rows[f"gate=False/{key}/raw-8-bit"] = entry
    print("| setting | mean Dice | median Dice | mean abs volume error | within 20% |")
    print("| --- | --- | --- | --- | --- |")
    for key, e in rows.items():
        print(f"| {key} | {e['dice_mean']:.4f} | {e['dice_median']:.3f} | {e['volume_error_abs_mean']:.3f} | "
              f"{e['within_20_percent']}/{e['with_tumour']} |")
    scores = {}
    for gate in (False, True):
        for method in POSTPROCESS_CHOICES:
            pair = [rows[f"gate={gate}/{seq}/RAS/{method}"]["dice_mean"] for seq in ("flair", "three")]
            scores[(gate, method)] = float(np.mean(pair))
    best = max(scores.values())
    order = [(g, m) for g in (False, True) for m in ("none", "drop_small", "largest")]
    chosen = next(option for option in order if scores[option] >= best - 0.001)
    print(f"chosen: gate={chosen[0]} postprocess={chosen[1]} (mean of the two Dice means {scores[chosen]:.4f}; "
          f"best {best:.4f})")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"rows": rows, "chosen": {"gate": chosen[0], "postprocess": chosen[1]},
                                             "scores": {f"gate={g}/{m}": v for (g, m), v in scores.items()}},
                                            indent=2) + "\n")


if __name__ == "__main__":
    main()
