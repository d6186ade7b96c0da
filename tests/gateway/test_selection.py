"""gateway/selection.py: the documented rules on real headers (the fixture patient's series)."""

from __future__ import annotations

import copy

import pytest

from gateway import selection
from gateway.selection import FLAIR, NOT_BRAIN_MR, OTHER, POST, PRE, Rules
from tests.gateway.conftest import study

THREE = "pre-contrast, FLAIR, post-contrast"


def _headers(seed="sel", keys=("pre", "flair", "post")):
    return dict(study(seed, keys))


def _plan(series_by_key, rules: Rules | None = None):
    uids = {key: str(v[0].SeriesInstanceUID) for key, v in series_by_key.items()}
    roles = selection.plan({uids[k]: v for k, v in series_by_key.items()}, rules or Rules())
    return {key: roles[uid] for key, uid in uids.items()}, uids


def _renamed(instances, **tags):
    out = copy.deepcopy(instances)
    for ds in out:
        for key, value in tags.items():
            if value is None:
                delattr(ds, key) if key in ds else None
            else:
                setattr(ds, key, value)
    return out


def test_three_series_on_one_grid_give_the_three_sequence_input():
    roles, uids = _plan(_headers())
    assert roles["flair"].kind == FLAIR and roles["flair"].sequences == THREE
    assert roles["flair"].companions == {PRE: uids["pre"], POST: uids["post"]}
    assert roles["pre"].kind == PRE and roles["post"].kind == POST
    assert roles["pre"].for_flair == uids["flair"]


def test_flair_alone_is_flair_only_with_the_reason():
    roles, _ = _plan(_headers(keys=("flair",)))
    assert roles["flair"].kind == FLAIR and roles["flair"].sequences == "FLAIR only"
    assert "0 pre-contrast series and 0 post-contrast series" in roles["flair"].reason


@pytest.mark.parametrize(
    "description, flair",
    [
        ("AX T2 FLAIR", True),
        ("t2_tirm_tra_dark-fluid", True),
        ("Sag 3D FLAIR", True),
        ("DARK FLUID", True),
        ("AX T1 FLAIR POST", False),  # T1-weighted FLAIR
        ("T1W_FLAIR", False),
        ("AX T2 FSE", False),
    ],
)
def test_flair_by_name(description, flair):
    ds = _renamed(
        _headers(keys=("pre",))["pre"][:1], SeriesDescription=description, ProtocolName=description
    )[0]
    assert selection.is_flair(ds, Rules()) is flair


def test_flair_by_inversion_time_when_no_name_says():
    ds = _renamed(_headers(keys=("flair",))["flair"][:1], SeriesDescription="AX 1", ProtocolName="AX 1")[0]
    assert selection.is_flair(ds, Rules())  # IR with TI 2500 ms
    ds.InversionTime = 150.0  # STIR
    assert not selection.is_flair(ds, Rules())


def test_override_pattern_replaces_the_rules():
    series = _headers(keys=("pre", "flair"))
    rules = Rules(flair=r"T1 PRE")
    roles, _ = _plan(series, rules)
    assert roles["pre"].kind == FLAIR and roles["flair"].kind == OTHER


def test_companion_off_the_flair_grid_is_not_used():
    series = _headers()
    series["post"] = _renamed(series["post"], PixelSpacing=[0.9, 0.9])
    roles, _ = _plan(series)
    assert roles["flair"].sequences == "FLAIR only" and "0 post-contrast" in roles["flair"].reason
    assert roles["post"].kind == OTHER


def test_two_post_contrast_candidates_fall_back_to_flair_only():
    series = _headers()
    series["post2"] = _renamed(
        series["post"], SeriesInstanceUID="1.2.3.4.5", SeriesDescription="AX T1 POST 2"
    )
    roles, _ = _plan(series)
    assert roles["flair"].sequences == "FLAIR only" and "2 post-contrast" in roles["flair"].reason


def test_sequences_setting_flair_only():
    roles, _ = _plan(_headers(), Rules(sequences="flair"))
    assert roles["flair"].sequences == "FLAIR only" and roles["pre"].kind == OTHER


@pytest.mark.parametrize(
    "tags, reason",
    [
        ({"Modality": "CT"}, "Modality CT"),
        ({"BodyPartExamined": "KNEE"}, "BodyPartExamined KNEE"),
        ({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.4.2"}, "not an MR image"),  # MR Spectroscopy
    ],
)
def test_not_brain_mr(tags, reason):
    roles, _ = _plan({"flair": _renamed(_headers(keys=("flair",))["flair"], **tags)})
    assert roles["flair"].kind == NOT_BRAIN_MR and reason in roles["flair"].reason


@pytest.mark.parametrize(
    ("description", "kind"),
    [
        ("T1 pre-contrast", PRE), ("precontrast T1", PRE), ("AX T1 pre Gd", PRE), ("T1 non-contrast", PRE),
        ("T1 without contrast", PRE), ("T1_pre_gad", PRE), ("t1_mprage", PRE), ("AX T1", PRE),
        ("AX T1 POST", POST), ("T1_POST", POST), ("AX T1 +C", POST), ("T1 C+", POST), ("T1 GAD", POST),
        ("T1 MPRAGE POSTCONTRAST", POST), ("T1 post-gad", POST), ("AX T1 CE", POST),
        ("T1 POSTERIOR fossa", PRE), ("POSTERIOR fossa", OTHER), ("AX T2 SPACE", OTHER), ("DWI", OTHER),
    ],
)  # fmt: skip
def test_pre_and_non_are_read_before_contrast_and_posterior_is_not_post(description, kind):
    ds = _renamed(
        _headers(keys=("pre",))["pre"][:1], SeriesDescription=description, ProtocolName=description
    )[0]
    ds.ContrastBolusAgent = None
    del ds.ContrastBolusAgent
    assert selection.contrast_kind(ds, Rules()) == kind


def _flair_variant(series, uid: str, number: int, **tags):
    return _renamed(series, SeriesInstanceUID=uid, SeriesNumber=number, **tags)


def test_one_flair_per_study_original_axial_then_slices_then_the_latest():
    flair = _headers(keys=("flair",))["flair"]
    study_ = {
        "derived": _flair_variant(flair, "1.2.3.1", 20, ImageType=["DERIVED", "SECONDARY", "MPR"]),
        "sagittal": _flair_variant(flair, "1.2.3.2", 21, ImageOrientationPatient=[0, 1, 0, 0, 0, -1]),
        "short": _flair_variant(flair[:8], "1.2.3.3", 22),
        "first": _flair_variant(flair, "1.2.3.4", 3),
        "repeat": _flair_variant(flair, "1.2.3.5", 4),
        "localizer": _flair_variant(flair, "1.2.3.6", 30, ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"]),
    }
    roles, _ = _plan(study_)
    assert roles["repeat"].kind == FLAIR, {k: r.reason for k, r in roles.items()}
    for key in ("derived", "sagittal", "short", "first"):
        assert roles[key].kind == OTHER and "series 4 of the study is analysed" in roles[key].reason
    assert roles["localizer"].reason == "a localizer, not analysed"
    del study_["repeat"], study_["first"], study_["short"]
    roles, _ = _plan(study_)
    assert roles["sagittal"].kind == FLAIR  # original before derived, even off axial
    del study_["sagittal"]
    assert _plan(study_)[0]["derived"].kind == FLAIR  # derived when nothing else is there


def test_an_original_companion_is_chosen_over_a_derived_one():
    series = _headers()
    series["post-mpr"] = _renamed(
        series["post"],
        SeriesInstanceUID="1.2.3.9",
        SeriesDescription="AX T1 POST MPR",
        ImageType=["DERIVED", "MPR"],
    )
    roles, uids = _plan(series)
    assert roles["flair"].sequences == THREE and roles["flair"].companions[POST] == uids["post"]
    assert roles["post-mpr"].kind == OTHER
