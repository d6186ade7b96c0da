"""imaging.lgg_layout on copies of the committed real LGG slices (tests/fixtures/lgg)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import tifffile

from imaging.lgg_layout import labelled_slices, read_mask

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lgg" / "kaggle_3m"
TIF_CASE = FIXTURES / "TCGA_CS_4942_19970222"
JPG_CASE = FIXTURES / "TCGA_FG_7634_20000128"


def test_slices_are_paired_with_their_masks_and_sorted_by_number():
    found = labelled_slices(JPG_CASE)

    assert [s.number for s in found] == [8, 22]  # numeric order, not "22" < "8"
    assert [(s.image.name, s.mask.name) for s in found] == [
        ("TCGA_FG_7634_20000128_8.jpg", "TCGA_FG_7634_20000128_8_mask.png"),
        ("TCGA_FG_7634_20000128_22.jpg", "TCGA_FG_7634_20000128_22_mask.png"),
    ]


def test_unnumbered_or_unmasked_images_and_other_files_are_skipped(tmp_path, caplog):
    for name in (
        "TCGA_CS_4942_19970222_11.tif",
        "TCGA_CS_4942_19970222_11_mask.tif",
        "TCGA_CS_4942_19970222_13.tif",
    ):
        shutil.copy(TIF_CASE / name, tmp_path / name)
    shutil.copy(TIF_CASE / "TCGA_CS_4942_19970222_17.tif", tmp_path / "overview.tif")
    (tmp_path / "notes.txt").write_text("not a slice")
    (tmp_path / "sub.tif").mkdir()

    with caplog.at_level(logging.WARNING, logger="imaging.lgg_layout"):
        found = labelled_slices(tmp_path)

    assert [(s.number, s.image.name) for s in found] == [(11, "TCGA_CS_4942_19970222_11.tif")]
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "TCGA_CS_4942_19970222_13.tif" in warned and "overview.tif" in warned


def test_masks_read_as_booleans_from_tiff_and_png():
    tif = TIF_CASE / "TCGA_CS_4942_19970222_11_mask.tif"
    assert np.array_equal(read_mask(tif), tifffile.imread(tif) > 0)
    assert read_mask(tif).any() and not read_mask(TIF_CASE / "TCGA_CS_4942_19970222_17_mask.tif").any()
    png = read_mask(JPG_CASE / "TCGA_FG_7634_20000128_22_mask.png")
    assert png.dtype == bool and png.shape == (256, 256)
