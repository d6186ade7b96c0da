"""Which series of a study is analysed, and with which inputs: the documented rules.

Every series of a study gets one :class:`Role`, decided from its headers only (no pixels):

1. **Not a brain MR** (the job fails with the reason): ``Modality`` is not MR, the SOP class is not
   an MR image (MR, Enhanced MR, Legacy Converted Enhanced MR), or ``BodyPartExamined`` is set to
   something other than BRAIN, HEAD, SKULL or HEADNECK.
2. **FLAIR** (analysed): ``SeriesDescription``, ``ProtocolName`` or ``SequenceName`` matches
   :data:`FLAIR_NAME` (``flair``, ``dark fluid``, ``tirm``; case-insensitive) and not
   :data:`T1_FLAIR` (a T1-weighted FLAIR is not the T2 FLAIR the models read); or, when no name
   says, ``ScanningSequence`` contains IR with ``InversionTime`` >= 1500 ms (fluid-attenuating
   inversion; STIR and T1 inversion recovery use shorter times). ``MRI_GATEWAY_FLAIR_PATTERN``
   replaces these rules with one regular expression on the same three names.
3. **Pre- and post-contrast** (inputs of a FLAIR job, themselves skipped): brain MR series of the
   study on the FLAIR series' grid (same size, orientation and slice positions within 0.05 mm).
   Post-contrast: ``ContrastBolusAgent`` is set, or a name matches :data:`POST_NAME`; pre-contrast:
   no contrast agent and a name matches :data:`PRE_NAME` (T1 or "pre") but not :data:`POST_NAME`
   (``MRI_GATEWAY_PRE/POST_CONTRAST_PATTERN`` replace the name rules). Exactly one of each gives
   the three-sequence input; otherwise (or with ``MRI_GATEWAY_SEQUENCES=flair``) FLAIR only, and
   the job's result says why.
4. Any other brain MR series is skipped ("not FLAIR").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pydicom
from pydicom.uid import UID

from gateway.series import SeriesError, SeriesGeometry, geometry

FLAIR_NAME = r"flair|dark[\s_-]*fluid|tirm"
T1_FLAIR = r"t1[\s_-]*(w[\s_-]*)?flair"
POST_NAME = r"post|\+\s*c\b|\bgad|\bgd\b|contrast|\bce\b|\+gd|\bc\+"
PRE_NAME = r"\bpre\b|pre[\s_-]*(con|gad|contrast)|t1"
FLAIR_INVERSION_MS = 1500.0
BRAIN_PARTS = {"", "BRAIN", "HEAD", "SKULL", "HEADNECK"}
MR_IMAGE_CLASSES = {
    UID("1.2.840.10008.5.1.4.1.1.4"),  # MR Image Storage
    UID("1.2.840.10008.5.1.4.1.1.4.1"),  # Enhanced MR Image Storage
    UID("1.2.840.10008.5.1.4.1.1.4.4"),  # Legacy Converted Enhanced MR Image Storage
}
FLAIR, PRE, POST, OTHER, NOT_BRAIN_MR = "flair", "pre-contrast", "post-contrast", "other", "not brain MR"


@dataclass(frozen=True)
class Rules:
    """The name rules (regular expressions, case-insensitive) and the sequence policy."""

    flair: str | None = None
    pre: str | None = None
    post: str | None = None
    sequences: str = "auto"


@dataclass
class Role:
    """What becomes of one series: ``kind`` (FLAIR, PRE, POST, OTHER or NOT_BRAIN_MR), why, and for
    a FLAIR series the companion series UIDs (``{"pre-contrast": uid, "post-contrast": uid}``, empty
    for FLAIR only) with the reason when there are none."""

    kind: str
    reason: str
    companions: dict[str, str] = field(default_factory=dict)
    for_flair: str | None = None

    @property
    def sequences(self) -> str:
        return "pre-contrast, FLAIR, post-contrast" if self.companions else "FLAIR only"


def names(ds: pydicom.Dataset) -> str:
    return " | ".join(str(ds.get(k, "") or "") for k in ("SeriesDescription", "ProtocolName", "SequenceName"))


def brain_mr_problem(ds: pydicom.Dataset) -> str | None:
    """Why ``ds`` is not a brain MR image, or None."""
    modality = str(ds.get("Modality", "") or "")
    if modality != "MR":
        return f"not a brain MR series: Modality {modality or '(none)'}"
    if UID(str(ds.get("SOPClassUID", ""))) not in MR_IMAGE_CLASSES:
        return f"not an MR image: SOP class {UID(str(ds.get('SOPClassUID', ''))).name}"
    part = str(ds.get("BodyPartExamined", "") or "").upper().strip()
    if part not in BRAIN_PARTS:
        return f"not a brain MR series: BodyPartExamined {part}"
    return None


def is_flair(ds: pydicom.Dataset, rules: Rules) -> bool:
    text = names(ds)
    if rules.flair:
        return re.search(rules.flair, text, re.IGNORECASE) is not None
    if re.search(FLAIR_NAME, text, re.IGNORECASE):
        return re.search(T1_FLAIR, text, re.IGNORECASE) is None
    scanning = str(ds.get("ScanningSequence", "") or "")
    inversion = ds.get("InversionTime")
    try:
        return "IR" in scanning and inversion is not None and float(inversion) >= FLAIR_INVERSION_MS
    except (TypeError, ValueError):
        return False


def contrast_kind(ds: pydicom.Dataset, rules: Rules) -> str:
    """POST, PRE or OTHER for a non-FLAIR brain MR series."""
    text = names(ds)
    post = re.search(rules.post or POST_NAME, text, re.IGNORECASE) is not None
    if post or str(ds.get("ContrastBolusAgent", "") or "").strip():
        return POST
    if re.search(rules.pre or PRE_NAME, text, re.IGNORECASE):
        return PRE
    return OTHER


def plan(study: Mapping[str, Sequence[pydicom.Dataset]], rules: Rules) -> dict[str, Role]:
    """``series UID -> Role`` for every series of a study (headers of each series' instances)."""
    roles: dict[str, Role] = {}
    kinds: dict[str, str] = {}
    for uid, headers in study.items():
        problem = brain_mr_problem(headers[0])
        if problem:
            roles[uid] = Role(NOT_BRAIN_MR, problem)
        elif is_flair(headers[0], rules):
            roles[uid] = Role(FLAIR, "FLAIR series")
        else:
            kinds[uid] = contrast_kind(headers[0], rules)
            roles[uid] = Role(OTHER, "not FLAIR")
    grids: dict[str, SeriesGeometry | None] = {}
    for uid, role in roles.items():
        if role.kind == FLAIR:
            _companions(uid, role, study, kinds, grids, roles, rules)
    return roles


def _grid(uid: str, study, grids: dict[str, SeriesGeometry | None]) -> SeriesGeometry | None:
    if uid not in grids:
        try:
            grids[uid] = geometry(study[uid])
        except SeriesError:
            grids[uid] = None
    return grids[uid]


def _companions(flair_uid, role: Role, study, kinds, grids, roles, rules: Rules) -> None:
    if rules.sequences == "flair":
        role.reason = "FLAIR series; FLAIR only (MRI_GATEWAY_SEQUENCES=flair)"
        return
    flair_grid = _grid(flair_uid, study, grids)
    if flair_grid is None:
        return  # the job itself reports the geometry problem
    found: dict[str, list[str]] = {PRE: [], POST: []}
    for uid, kind in kinds.items():
        if kind in found and (grid := _grid(uid, study, grids)) is not None and flair_grid.same_grid(grid):
            found[kind].append(uid)
    missing = [f"{len(uids)} {kind} series" for kind, uids in found.items() if len(uids) != 1]
    if missing:
        role.reason = f"FLAIR series; FLAIR only: {' and '.join(missing)} on the FLAIR grid"
        return
    role.companions = {kind: uids[0] for kind, uids in found.items()}
    role.reason = "FLAIR series; with pre- and post-contrast series on its grid"
    for kind, uid in role.companions.items():
        roles[uid] = Role(kind, f"not FLAIR: the {kind} input of a FLAIR series", for_flair=flair_uid)
