"""gateway/completeness.py on the fixture patient's real headers: what counts as whole, what waits."""

from __future__ import annotations

import copy

import highdicom as hd
import pytest

from gateway.completeness import Incomplete, check_listed, check_received
from tests.gateway.conftest import study


def _flair():
    return copy.deepcopy(study("complete", ["flair"])["flair"])


def test_a_whole_series_passes_in_any_order():
    flair = _flair()
    check_received(flair[::-1], transfer_aborted=False, instance_numbers=True)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: s[:3] + s[5:], "instance numbers 4-5 missing"),
        (lambda s: s[1:], "instance number 1 missing"),
        (lambda s: s[:2] + s[3:6] + s[8:], "instance numbers 3, 7-8 missing"),
    ],
    ids=["inside", "first", "two-holes"],
)
def test_missing_instances_are_named(change, reason):
    with pytest.raises(Incomplete, match=reason):
        check_received(change(_flair()), transfer_aborted=False, instance_numbers=True)


def test_a_gap_in_the_slices_is_incomplete_even_without_instance_numbers():
    flair = _flair()
    for ds in flair:
        ds.InstanceNumber = 7  # the same number everywhere: nothing to tell from them
    with pytest.raises(Incomplete, match="a gap in the series"):
        check_received(flair[:4] + flair[5:], transfer_aborted=False, instance_numbers=True)
    numbered = _flair()[1:]
    check_received(numbered, transfer_aborted=False, instance_numbers=False)  # the setting turns it off


def test_an_aborted_transfer_and_a_short_listing_are_incomplete():
    with pytest.raises(Incomplete, match="aborted"):
        check_received(_flair(), transfer_aborted=True, instance_numbers=True)
    with pytest.raises(Incomplete, match="the server lists 12 instances of the series, WADO-RS gave 11"):
        check_listed(12, 11, "WADO-RS gave")
    check_listed(12, 12, "its metadata lists")
    check_listed(None, 3, "its metadata lists")  # the server does not say


def test_an_enhanced_series_is_one_instance_and_passes():
    flair = _flair()
    enhanced = hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy_datasets=flair, series_instance_uid=hd.UID(), series_number=5, sop_instance_uid=hd.UID(),
        instance_number=3,
    )  # fmt: skip
    check_received([enhanced], transfer_aborted=False, instance_numbers=True)
