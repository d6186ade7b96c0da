"""Which file and output answers for each role, per input path: the models folder's layout.

A models folder is either

- **two models** (the earlier layout): ``classifier.keras`` (one output, ``(N, 1)`` probability or
  ``(N, 2)`` softmax) and ``segmenter.keras`` (one output, ``(N, S, S, 1)``), the same files for
  every input; or
- **joint**: one model file whose outputs are named :data:`~contract.spec.MASK_OUTPUT` and
  :data:`~contract.spec.PROBABILITY_OUTPUT` (``joint.keras``, possibly an ensemble of fold models),
  so one pass answers both roles, and optionally another such file for FLAIR-only input
  (``flair.keras``).

The card says which: each role's entry (``models.classifier``, ``models.segmenter``) names its
``file`` and, in a joint folder, its ``output_name`` (:data:`OUTPUT_KEY`), its ``threshold`` (and the segmenter's
``postprocess``), and may hold a ``flair`` entry of the same keys for FLAIR-only input. A folder
without a card (or whose entries name no file) is read as two models. The card's ``gate`` says which
slices count as tumour slices (:data:`GATES`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from contract.postprocess import postprocess_settings
from contract.spec import CLASSIFIER_FILE, DEFAULT_THRESHOLD, SEGMENTER_FILE

ROLES = ("classifier", "segmenter")
#: The card key naming the output a role reads (a joint file); ``output`` describes it in words.
OUTPUT_KEY = "output_name"
DEFAULT_FILES = {"classifier": CLASSIFIER_FILE, "segmenter": SEGMENTER_FILE}
#: Input paths: the three sequences, or FLAIR only (a grey upload, a FLAIR-only volume).
PATHS = ("three", "flair")
#: ``classifier``: the classifier's verdict; ``mask``: a mask was drawn; ``both``: the two together.
GATES = ("classifier", "mask", "both")
Gate = Literal["classifier", "mask", "both"]
DEFAULT_GATE = "classifier"
#: The gate of ``/volume`` for a card that names none (an earlier two-model folder): every drawn mask,
#: as ``/volume`` did before the gate was a choice of the card (``/analyze`` then: :data:`DEFAULT_GATE`).
LEGACY_VOLUME_GATE = "mask"


@dataclass(frozen=True)
class RoleSpec:
    """What answers for one role on one input path.

    ``file``: the model file (in the models folder); ``output``: the output of that file to read (None:
    the model's only output); ``threshold``: the card's cut-off;
    ``postprocess``: the segmenter's 2-D post-processing (:mod:`contract.postprocess`); ``entry``:
    the role's card entry (name, metrics, ...). ``threshold`` is :data:`~contract.spec.DEFAULT_THRESHOLD`
    when the card gives none.
    """

    role: str
    file: str
    output: str | None
    threshold: float
    postprocess: dict[str, Any]
    entry: dict[str, Any] = field(repr=False, compare=False)


def role_spec(card: dict[str, Any], role: str, path: str = "three") -> RoleSpec:
    """The :class:`RoleSpec` of ``role`` on input ``path`` (module docstring)."""
    if role not in ROLES or path not in PATHS:
        raise ValueError(f"role must be one of {ROLES} and path one of {PATHS}, got {role!r}, {path!r}")
    entry = (card.get("models") or {}).get(role) or {}
    own = entry.get("flair") if path == "flair" and entry.get("flair") else entry
    return RoleSpec(
        role=role,
        file=str(own.get("file") or entry.get("file") or DEFAULT_FILES[role]),
        output=entry.get(OUTPUT_KEY),
        threshold=float(own["threshold"]) if own.get("threshold") is not None else DEFAULT_THRESHOLD,
        postprocess=postprocess_settings(own) if role == "segmenter" else {},
        entry=entry,
    )


def layout_files(card: dict[str, Any]) -> list[str]:
    """Every model file the folder's card asks for, each once, in a stable order."""
    files = [role_spec(card, role, path).file for path in PATHS for role in ROLES]
    return list(dict.fromkeys(files))


def is_joint(card: dict[str, Any]) -> bool:
    """Whether one pass of one file answers both roles (the joint layout)."""
    three = [role_spec(card, role) for role in ROLES]
    return three[0].file == three[1].file and all(s.output for s in three)


def gate_of(card: dict[str, Any], override: str | None = None, default: str = DEFAULT_GATE) -> str:
    """``override`` (a setting) if given, else the card's gate (:data:`GATES`), else ``default``
    (:data:`DEFAULT_GATE`; ``/volume`` passes :data:`LEGACY_VOLUME_GATE`)."""
    gate = override or card.get("gate") or default
    if gate not in GATES:
        raise ValueError(f"the model card's gate must be one of {GATES}, got {gate!r}")
    return gate
