"""Indexing the LGG layout (tif and jpg/png) and the patient-level split."""

from pathlib import Path

import numpy as np
import pytest

from training import lgg

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lgg" / "kaggle_3m"


def test_index_reads_both_layouts():
    records = lgg.build_index(FIXTURES)
    assert len(records) == 7
    assert {Path(r.image_path).suffix for r in records} == {".tif", ".jpg"}
    by_key = {(r.case, r.slice): r.has_tumour for r in records}
    assert by_key[("TCGA_CS_4942_19970222", 11)] == 1
    assert by_key[("TCGA_CS_4942_19970222", 17)] == 0
    assert {r.patient for r in records} == {"TCGA_CS_4942", "TCGA_HT_7605", "TCGA_FG_7634"}


def test_index_round_trips_through_csv(tmp_path):
    records = lgg.build_index(FIXTURES)
    lgg.write_index(records, tmp_path / "index.csv")
    assert lgg.read_index(tmp_path / "index.csv") == records


def _fake_records(n_patients: int) -> list[lgg.SliceRecord]:
    return [
        lgg.SliceRecord(f"TCGA_XX_{p:04d}_2000", f"TCGA_XX_{p:04d}", s, "i", "m", int(p % 3 == 0 and s > 5))
        for p in range(n_patients)
        for s in range(10)
    ]


def test_split_is_by_patient_seeded_and_complete():
    records = _fake_records(90)
    split = lgg.split_patients(records, seed=7)
    parts = [set(v) for v in split.values()]
    assert sum(len(p) for p in parts) == 90
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert lgg.split_patients(records, seed=7) == split
    assert lgg.split_patients(records, seed=8) != split
    for part in split.values():  # stratified: every part holds tumour patients
        assert any(int(p.split("_")[2]) % 3 == 0 for p in part)


def test_split_of_three_patients_fills_every_part():
    split = lgg.split_patients(_fake_records(3))
    assert all(len(v) == 1 for v in split.values())


def test_split_refuses_bad_fractions():
    with pytest.raises(ValueError):
        lgg.split_patients(_fake_records(10), fractions=(0.5, 0.5, 0.5))


def test_load_arrays_resizes_images_and_masks():
    records = lgg.build_index(FIXTURES)[:2]
    images, masks = lgg.load_arrays(FIXTURES, records, 64)
    assert images.shape == (2, 64, 64, 3) and images.dtype == np.uint8
    assert masks.shape == (2, 64, 64, 1) and set(np.unique(masks)) <= {0, 1}
