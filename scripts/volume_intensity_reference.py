"""Print the intensity reference of the volume normalisation (``contract.volume.VOLUME_TARGET``).

For every training patient, each sequence's 99.5th percentile over the patient's whole volume (all
its slices, as stored); the reference is the median over the patients, per sequence.

    python scripts/volume_intensity_reference.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from contract import CHANNELS, SPLIT_FILE
from contract.volume import VOLUME_TARGET
from contract.windowing import HIGH_PERCENTILE
from training import data as lgg
from training.volume_eval import DEFAULT_DATA, patient_slices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--models-dir", default="models")
    args = parser.parse_args()
    split = json.loads((Path(args.models_dir) / SPLIT_FILE).read_text())
    records = lgg.build_index(args.data)
    highs = []
    for patient in split["patients"]["train"]:
        images, _ = patient_slices(args.data, lgg.records_for(records, [patient]))
        highs.append([np.percentile(images[..., c], HIGH_PERCENTILE) for c in range(len(CHANNELS))])
    medians = np.median(np.array(highs), axis=0)
    print(f"{len(highs)} training patients; median per-volume {HIGH_PERCENTILE}th percentile:")
    for name, value, used in zip(CHANNELS, medians, VOLUME_TARGET, strict=True):
        print(f"  {name}: {value:.1f} (contract.volume.VOLUME_TARGET: {used})")


if __name__ == "__main__":
    main()
