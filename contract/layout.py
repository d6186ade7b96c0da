"""Which file and output answers for each role, per input path: the models folder's layout.

A models folder holds one model file whose outputs are named :data:`~contract.spec.MASK_OUTPUT` and
:data:`~contract.spec.PROBABILITY_OUTPUT` (``joint.keras``: a joint network, an ensemble of them, or a
classifier and a segmenter wrapped together), so one pass answers both roles, and optionally another
such file for FLAIR-only input (``flair.keras``).

The card says which: each role's entry (``models.classifier``, ``models.segmenter``) names its
``file`` and its ``output_name`` (:data:`OUTPUT_KEY`), its ``threshold`` (and the segmenter's
``postprocess``), and may hold a ``flair`` entry of the same keys for FLAIR-only input. The card's
``gate`` says which slices count as tumour slices in ``/analyze`` (:data:`GATES`), its ``volume_gate``
the same for ``/volume`` (the ``gate`` when it names none). A folder of two single-output files (the
layout served before) is turned into this one by ``python -m training wrap``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from contract.postprocess import postprocess_settings
from contract.spec import DEFAULT_THRESHOLD, JOINT_FILE, MASK_OUTPUT, PROBABILITY_OUTPUT

ROLES = ("classifier", "segmenter")
#: The card key naming the output a role reads; ``output`` describes it in words.
OUTPUT_KEY = "output_name"
#: What a role reads when its card entry names nothing (a folder without a card): ``joint.keras``'s outputs.
DEFAULT_OUTPUTS = {"classifier": PROBABILITY_OUTPUT, "segmenter": MASK_OUTPUT}
#: Input paths: the three sequences, or FLAIR only (a grey upload, a FLAIR-only volume).
PATHS = ("three", "flair")
#: ``classifier``: the classifier's verdict; ``mask``: a mask was drawn; ``both``: the two together.
GATES = ("classifier", "mask", "both")
Gate = Literal["classifier", "mask", "both"]
DEFAULT_GATE = "classifier"


@dataclass(frozen=True)
class RoleSpec:
    """What answers for one role on one input path.

    ``file``: the model file (in the models folder); ``output``: the output of that file to read;
    ``threshold``: the card's cut-off;
    ``postprocess``: the segmenter's 2-D post-processing (:mod:`contract.postprocess`); ``entry``:
    the role's card entry (name, metrics, ...). ``threshold`` is :data:`~contract.spec.DEFAULT_THRESHOLD`
    when the card gives none.
    """

    role: str
    file: str
    output: str
    threshold: float
    postprocess: dict[str, Any]
    entry: dict[str, Any] = field(repr=False, compare=False)


def role_spec(card: dict[str, Any], role: str, path: str = "three") -> RoleSpec:
    """The :class:`RoleSpec` of ``role`` on input ``path`` (module docstring); a card that names nothing
    for the role (or no card) reads :data:`~contract.spec.JOINT_FILE`'s :data:`DEFAULT_OUTPUTS`."""
    if role not in ROLES or path not in PATHS:
        raise ValueError(f"role must be one of {ROLES} and path one of {PATHS}, got {role!r}, {path!r}")
    entry = (card.get("models") or {}).get(role) or {}
    own = entry.get("flair") if path == "flair" and entry.get("flair") else entry
    return RoleSpec(
        role=role,
        file=str(own.get("file") or entry.get("file") or JOINT_FILE),
        output=str(entry.get(OUTPUT_KEY) or DEFAULT_OUTPUTS[role]),
        threshold=float(own["threshold"]) if own.get("threshold") is not None else DEFAULT_THRESHOLD,
        postprocess=postprocess_settings(own) if role == "segmenter" else {},
        entry=entry,
    )


def layout_files(card: dict[str, Any]) -> list[str]:
    """Every model file the folder's card asks for, each once, in a stable order; a ``ValueError`` when
    the two roles of an input path name different files (one pass of one file answers both)."""
    files = []
    for path in PATHS:
        specs = [role_spec(card, role, path) for role in ROLES]
        if len({s.file for s in specs}) != 1:
            raise ValueError(
                f"the model card's roles name different files on the {path} path: "
                f"{[s.file for s in specs]} (one file answers both roles; a classifier and a "
                "segmenter file become one with python -m training wrap)"
            )
        files.append(specs[0].file)
    return list(dict.fromkeys(files))


def gate_of(card: dict[str, Any], override: str | None = None) -> str:
    """The gate of ``/analyze``: ``override`` (a setting) if given, else the card's ``gate`` (:data:`GATES`),
    else :data:`DEFAULT_GATE`."""
    return _checked(override or card.get("gate") or DEFAULT_GATE)


def volume_gate_of(card: dict[str, Any], override: str | None = None) -> str:
    """The gate of ``/volume``: ``override`` (a setting) if given, else the card's ``volume_gate``, else
    :func:`gate_of` the card."""
    return _checked(override or card.get("volume_gate") or gate_of(card))


def _checked(gate: str) -> str:
    if gate not in GATES:
        raise ValueError(f"the model card's gate must be one of {GATES}, got {gate!r}")
    return gate
