"""Cross-validation folds: a partition of the development patients, balanced by tumour slices."""

import pytest

from training.folds import fold_split, make_folds
from training.lgg import SliceRecord


def _records(tumour_by_patient: dict[str, int], slices: int = 10) -> list[SliceRecord]:
    return [
        SliceRecord(case=p, patient=p, slice=i, image_path="", mask_path="", has_tumour=int(i < t))
        for p, t in tumour_by_patient.items()
        for i in range(slices)
    ]


def test_folds_partition_the_development_patients_and_balance_tumour_slices():
    tumour = {f"P{i:02d}": t for i, t in enumerate([9, 8, 7, 7, 6, 5, 5, 4, 3, 2, 1, 0, 0, 0, 0, 3, 6])}
    folds = make_folds(_records(tumour), test=["P15", "P16"], k=5, seed=1)
    dealt = [p for fold in folds["folds"] for p in fold]
    assert sorted(dealt) == sorted(set(tumour) - {"P15", "P16"}) and len(dealt) == len(set(dealt))
    assert folds["test"] == ["P15", "P16"]
    assert max(folds["tumour_slices"]) - min(folds["tumour_slices"]) <= 2
    assert folds == make_folds(_records(tumour), test=["P15", "P16"], k=5, seed=1)  # seeded


def test_a_fold_split_trains_on_the_other_folds_and_holds_its_own_out():
    folds = make_folds(_records({f"P{i}": i % 3 for i in range(9)}), test=["P0"], k=4)
    for i in range(4):
        split = fold_split(folds, i)["patients"]
        assert split["validation"] == folds["folds"][i] and split["test"] == ["P0"]
        assert not set(split["train"]) & set(split["validation"])
        assert sorted(split["train"] + split["validation"]) == sorted(
            [p for fold in folds["folds"] for p in fold]
        )
    with pytest.raises(ValueError):
        fold_split(folds, 4)
    with pytest.raises(ValueError):
        make_folds(_records({"A": 1, "B": 0}), test=[], k=3)
