"""Which series of a study is analysed, and with which inputs: the documented rules.

Every series of a study gets one :class:`Role`, decided from its headers only (no pixels):

1. **Not a brain MR** (skipped, with the reason): ``Modality`` is not MR, the SOP class is not an MR
   image (MR, Enhanced MR, Legacy Converted Enhanced MR), or ``BodyPartExamined`` is set to
   something other than BRAIN, HEAD, SKULL or HEADNECK.
2. **FLAIR candidates**: ``SeriesDescription``, ``ProtocolName`` or ``SequenceName`` matches
   :data:`FLAIR_NAME` (``flair``, ``dark fluid``, ``tirm``; case-insensitive) and not
   :data:`T1_FLAIR` (a T1-weighted FLAIR is not the T2 FLAIR the models read); or, when no name
   says, ``ScanningSequence`` contains IR with ``InversionTime`` >= 1500 ms.
   ``MRI_GATEWAY_FLAIR_PATTERN`` replaces these rules with one regular expression on the same names.
   A localizer (``ImageType`` LOCALIZER, or named localizer / scout / survey) is never analysed.
3. **One FLAIR per study**: the candidate first by, in order: original (``ImageType`` ORIGINAL, not
   DERIVED, REFORMATTED, MPR, MIP, PROJECTION IMAGE or RESAMPLED) before derived; axial (slice
   normal within 37 degrees of the patient's feet-head axis) before other orientations; more
   slices; the higher ``SeriesNumber`` (a repeated acquisition); the Series Instance UID. The others
   are skipped, naming the series chosen.
4. **Pre- and post-contrast** (inputs of the chosen FLAIR, themselves skipped): brain MR series on
   its grid (same size, orientation and slice positions within 0.05 mm), not localizers. A name
   that says pre-contrast (:data:`PRE_NAME`: "pre", "non", "without", "w/o" before "contrast",
   "gad", "Gd", "C"; "precontrast") is pre-contrast, whatever else it says; then post-contrast:
   ``ContrastBolusAgent`` set, or a name matching :data:`POST_NAME` ("post" as a word, "+C", "C+",
   "gad...", "Gd", "contrast", "CE": "POSTERIOR fossa" is not); then pre-contrast: a T1 name
   (:data:`T1_NAME`). ``MRI_GATEWAY_PRE/POST_CONTRAST_PATTERN`` replace the name rules. Exactly one
   of each (an original one when there are several and only one is original) gives the
   three-sequence input; otherwise, or with ``MRI_GATEWAY_SEQUENCES=flair``, FLAIR only, and the
   job's result says why. Only series present when the job runs count: those that arrived within
   the study's quiet time.
5. Any other brain MR series is skipped ("not FLAIR").

A pre- or post-contrast series on a grid other than the FLAIR's is not resampled onto it: that was
not measured against the FLAIR-only answer (docs/integration.md), so it is not used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.uid import UID

from imaging.dicom.errors import DicomError
from imaging.dicom.frames import frames_of
from imaging.dicom.series import DicomSeries, read_series

_B, _E = r"(?<![a-z])", r"(?![a-z])"  # word edges where "_" and digits also separate words
FLAIR_NAME = r"flair|dark[\s_-]*fluid|tirm"
T1_FLAIR = r"t1[\s_-]*(w[\s_-]*)?flair"
PRE_NAME = rf"{_B}(pre|non|without|w/o)[\s_-]*(con|gad|gd{_E}|c{_E}|\+\s*c{_E})|{_B}pre{_E}|{_B}precon"
POST_NAME = rf"{_B}post{_E}|{_B}post[\s_-]*(con|gad|gd{_E}|c{_E})|\+\s*(c|gd){_E}|{_B}c\s*\+|{_B}gad|{_B}gd{_E}|contrast|{_B}ce{_E}"
T1_NAME = r"(?<![a-z0-9])t1(?![0-9])"
LOCALIZER_NAME = rf"{_B}(localizer|localiser|scout|survey|3[\s_-]*plane[\s_-]*loc)"
DERIVED_TYPES = {"DERIVED", "REFORMATTED", "MPR", "MIP", "PROJECTION IMAGE", "RESAMPLED"}
FLAIR_INVERSION_MS = 1500.0
AXIAL_COSINE = 0.8  # |slice normal . feet-head axis|: within about 37 degrees
BRAIN_PARTS = {"", "BRAIN", "HEAD", "SKULL", "HEADNECK"}
MR_IMAGE_CLASSES = {
    UID("1.2.840.10008.5.1.4.1.1.4"),  # MR Image Storage
    UID("1.2.840.10008.5.1.4.1.1.4.1"),  # Enhanced MR Image Storage
    UID("1.2.840.10008.5.1.4.1.1.4.4"),  # Legacy Converted Enhanced MR Image Storage
}
FLAIR, PRE, POST, OTHER, NOT_BRAIN_MR = "flair", "pre-contrast", "post-contrast", "other", "not brain MR"
THREE, FLAIR_ONLY = "pre-contrast, FLAIR, post-contrast", "FLAIR only"


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
    the chosen FLAIR series the companion series UIDs (``{"pre-contrast": uid, "post-contrast": uid}``,
    empty for FLAIR only); a companion names its FLAIR series (``for_flair``)."""

    kind: str
    reason: str
    companions: dict[str, str] = field(default_factory=dict)
    for_flair: str | None = None

    @property
    def sequences(self) -> str:
        return THREE if self.companions else FLAIR_ONLY


def names(ds: pydicom.Dataset) -> str:
    return " | ".join(str(ds.get(k, "") or "") for k in ("SeriesDescription", "ProtocolName", "SequenceName"))


def _found(pattern: str, text: str) -> bool:
    return re.search(pattern, text, re.IGNORECASE) is not None


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
        return _found(rules.flair, text)
    if _found(FLAIR_NAME, text):
        return not _found(T1_FLAIR, text)
    scanning = str(ds.get("ScanningSequence", "") or "")
    inversion = ds.get("InversionTime")
    try:
        return "IR" in scanning and inversion is not None and float(inversion) >= FLAIR_INVERSION_MS
    except (TypeError, ValueError):
        return False


def contrast_kind(ds: pydicom.Dataset, rules: Rules) -> str:
    """PRE, POST or OTHER for a brain MR series that is not FLAIR ("pre"/"non" read first)."""
    text = names(ds)
    if _found(rules.pre or PRE_NAME, text):
        return PRE
    if _found(rules.post or POST_NAME, text) or str(ds.get("ContrastBolusAgent", "") or "").strip():
        return POST
    return PRE if rules.pre is None and _found(T1_NAME, text) else OTHER


def image_types(ds: pydicom.Dataset) -> set[str]:
    value = ds.get("ImageType") or ds.get("FrameType") or []
    return {str(v).upper().strip() for v in ([value] if isinstance(value, str) else value)}


def is_localizer(ds: pydicom.Dataset) -> bool:
    return "LOCALIZER" in image_types(ds) or _found(LOCALIZER_NAME, names(ds))


def is_original(ds: pydicom.Dataset) -> bool:
    types = image_types(ds)
    return "DERIVED" not in types and not types & DERIVED_TYPES


def is_axial(ds: pydicom.Dataset) -> bool:
    try:
        orientation = frames_of(ds, "the first instance")[0].geometry.orientation
    except (DicomError, IndexError):
        return False
    return abs(float(np.cross(orientation[:3], orientation[3:])[2])) >= AXIAL_COSINE


def rank(headers: Sequence[pydicom.Dataset]) -> tuple:
    """The order of FLAIR candidates (module docstring, rule 3): the highest is analysed."""
    first = headers[0]
    frames = sum(int(ds.get("NumberOfFrames", 1) or 1) for ds in headers)
    try:
        number = int(first.get("SeriesNumber", 0) or 0)
    except (TypeError, ValueError):
        number = 0
    return is_original(first), is_axial(first), frames, number, str(first.get("SeriesInstanceUID", ""))


def plan(study: Mapping[str, Sequence[pydicom.Dataset]], rules: Rules) -> dict[str, Role]:
    """``series UID -> Role`` for every series of a study (headers of each series' instances)."""
    roles: dict[str, Role] = {}
    kinds: dict[str, str] = {}
    candidates: list[str] = []
    for uid, headers in study.items():
        problem = brain_mr_problem(headers[0])
        if problem:
            roles[uid] = Role(NOT_BRAIN_MR, problem)
        elif is_localizer(headers[0]):
            roles[uid] = Role(OTHER, "a localizer, not analysed")
        elif is_flair(headers[0], rules):
            candidates.append(uid)
        else:
            kinds[uid] = contrast_kind(headers[0], rules)
            roles[uid] = Role(OTHER, "not FLAIR")
    if candidates:
        chosen = max(candidates, key=lambda uid: rank(study[uid]))
        number = study[chosen][0].get("SeriesNumber", "?")
        for uid in candidates:
            roles[uid] = Role(
                OTHER,
                f"a FLAIR series not chosen: series {number} of the study is analysed (original before "
                "derived, axial first, then the most slices, then the latest series)",
            )
        roles[chosen] = Role(FLAIR, "FLAIR series")
        _companions(chosen, roles[chosen], study, kinds, roles, rules)
    return roles


def _grid(headers) -> DicomSeries | None:
    try:
        return read_series(headers)
    except DicomError:
        return None


def _companions(flair_uid, role: Role, study, kinds, roles, rules: Rules) -> None:
    if rules.sequences == "flair":
        role.reason = f"FLAIR series; {FLAIR_ONLY} (MRI_GATEWAY_SEQUENCES=flair)"
        return
    flair_grid = _grid(study[flair_uid])
    if flair_grid is None:
        return  # the job itself reports the geometry problem
    found: dict[str, list[str]] = {PRE: [], POST: []}
    for uid, kind in kinds.items():
        if kind in found and (grid := _grid(study[uid])) is not None and flair_grid.same_grid(grid):
            found[kind].append(uid)
    for kind, uids in found.items():
        originals = [uid for uid in uids if is_original(study[uid][0])]
        if len(uids) > 1 and len(originals) == 1:
            found[kind] = originals
    missing = [f"{len(uids)} {kind} series" for kind, uids in found.items() if len(uids) != 1]
    if missing:
        role.reason = f"FLAIR series; {FLAIR_ONLY}: {' and '.join(missing)} on the FLAIR grid"
        return
    role.companions = {kind: uids[0] for kind, uids in found.items()}
    role.reason = "FLAIR series; with pre- and post-contrast series on its grid"
    for kind, uid in role.companions.items():
        roles[uid] = Role(kind, f"the {kind} input of a FLAIR series", for_flair=flair_uid)
