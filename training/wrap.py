"""A classifier file and a segmenter file as one served model file (``python -m training wrap``).

The served layout is one model file with both outputs (:mod:`contract.layout`). A classifier and a
segmenter trained apart (``python -m training train classifier|segmenter``, or a folder of the
two-model layout served before) become one with :func:`training.models.pair.build_pair`: the file is
stored as :func:`training.ensemble.save_compact` stores the ensembles (float16-precision weights,
LZMA), exported to ONNX, and the card's role entries say what each role reads.

What the service needs besides the file (thresholds, 2-D post-processing per input path, the gates,
the ``/volume`` settings) comes from a source card, ``--card`` (the folder the networks were chosen
in): each role keeps its entry there, pointed at the new file. A source card without a ``gate`` was
served with the gates of the two-model layout (``/analyze``: the classifier's verdict; ``/volume``:
every drawn mask); those are written out.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import keras

from contract import (
    JOINT_FILE,
    MASK_OUTPUT,
    PROBABILITY_OUTPUT,
    SPLIT_FILE,
    file_version,
    read_card,
    write_card,
)
from contract.exports import EXPORTS_KEY
from contract.layout import OUTPUT_KEY
from training.ensemble import save_compact
from training.export import export_folder
from training.models.pair import build_pair

log = logging.getLogger(__name__)

#: The gates a card without one was served with (the two-model layout): ``/analyze``, ``/volume``.
TWO_MODEL_GATES = {"gate": "classifier", "volume_gate": "mask"}
#: Card keys carried over from the source card as they are.
CARRIED = ("split", "data", "volume_intensity_targets", "volume_postprocess", "intended_use")
ROLE_KEYS = ("name", "threshold", "threshold_choice", "postprocess", "flair", "training", "selection")


def _role_entry(source: dict[str, Any], role: str, network: keras.Model, path: Path) -> dict[str, Any]:
    entry = {k: v for k, v in ((source.get("models") or {}).get(role) or {}).items() if k in ROLE_KEYS}
    if isinstance(entry.get("flair"), dict):  # a FLAIR-only entry of the same file: its own settings only
        entry["flair"] = {k: v for k, v in entry["flair"].items() if k not in ("file", "version")}
    entry.setdefault("name", f"lgg-{role}")
    entry["network"] = {
        "architecture": network.name,
        "parameters": int(network.count_params()),
        "input": list(network.input_shape[1:]),
        "source": path.name,
        "source_version": file_version(path),
    }
    return entry


def wrap(
    classifier: str | Path, segmenter: str | Path, out: str | Path, card_from: str | Path | None = None
) -> dict:
    """Write ``<out>/joint.keras`` (the pair), its ONNX export and card; returns the card (module docstring)."""
    classifier, segmenter, out = Path(classifier), Path(segmenter), Path(out)
    source = read_card(card_from) if card_from is not None else {}
    nets = {
        "classifier": keras.saving.load_model(classifier, compile=False),
        "segmenter": keras.saving.load_model(segmenter, compile=False),
    }
    model = build_pair(nets["classifier"], nets["segmenter"])
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.onnx"):
        stale.unlink()
    saved = save_compact(model, out / JOINT_FILE)
    version = file_version(saved)
    card = {k: source[k] for k in CARRIED if k in source}
    described = {
        "architecture": (
            f"{nets['classifier'].name} ({nets['classifier'].input_shape[1]} px) + "
            f"{nets['segmenter'].name} ({nets['segmenter'].input_shape[1]} px), one file"
        ),
        "parameters": int(model.count_params()),
    }
    card["models"] = {}
    for role, output, path in (
        ("classifier", PROBABILITY_OUTPUT, classifier),
        ("segmenter", MASK_OUTPUT, segmenter),
    ):
        entry = _role_entry(source, role, nets[role], path)
        card["models"][role] = {
            **entry,
            **described,
            "file": JOINT_FILE,
            OUTPUT_KEY: output,
            "version": version,
        }
    if source.get("gate"):
        card["gate"] = source["gate"]
        if source.get("volume_gate"):
            card["volume_gate"] = source["volume_gate"]
    else:
        card.update(TWO_MODEL_GATES)
    card["wrapped"] = {
        "command": "python -m training wrap",
        "card_from": str(card_from) if card_from else None,
        "classifier": card["models"]["classifier"]["network"],
        "segmenter": card["models"]["segmenter"]["network"],
    }
    card.pop(EXPORTS_KEY, None)
    write_card(out, card)
    if card_from is not None and (Path(card_from) / SPLIT_FILE).exists() and not (out / SPLIT_FILE).exists():
        shutil.copy(Path(card_from) / SPLIT_FILE, out / SPLIT_FILE)
    export_folder(out, weights="float16", files=[JOINT_FILE])
    log.info("wrote %s (%.1f MiB): %s", saved, saved.stat().st_size / 2**20, described["architecture"])
    return read_card(out)
