"""The ``mri-client`` command line on folders of real slices: CSV, JSON lines, masks, exit codes."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mri_client import MRIClient
from mri_client.cli import main
from PIL import Image

from .conftest import API_KEY

GOOD = {"a.tif", "case1/b.jpg", "case1/deep/c.png", "case1/IM0001"}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def by_name(rows, root: Path) -> dict[str, dict]:
    return {Path(r["path"]).relative_to(root).as_posix(): r for r in rows}


def served(url: str) -> dict[str, dict]:
    """``role -> {name, version, ...}`` of the models the service serves."""
    with MRIClient(url, retries=0) as client:
        return {m["role"]: m for m in client.models()["models"]}


def test_recursive_folder_csv_with_a_bad_file(service_url, slice_folder, tmp_path):
    out = tmp_path / "rows.csv"
    status = main(
        [
            "classify",
            str(slice_folder),
            "--recursive",
            "--url",
            service_url,
            "--concurrency",
            "3",
            "--retries",
            "0",
            "-q",
            "--output",
            str(out),
        ]
    )
    assert status == 1, "a row for every file, and exit 1 because one failed"
    rows = read_csv(out)
    columns = ["path", "status", "tumour_probability", "has_tumour", "model", "model_version", "error"]
    assert list(rows[0]) == columns
    named = by_name(rows, slice_folder)
    assert set(named) == GOOD | {"broken.png"}, "txt and hidden files are skipped"
    assert [r["path"] for r in rows] == sorted(r["path"] for r in rows), "rows in input order"
    classifier = served(service_url)["classifier"]
    with MRIClient(service_url, retries=0) as client:
        for name in GOOD:
            row, answer = named[name], client.classify(slice_folder / name)
            assert row["status"] == "ok" and row["error"] == ""
            assert float(row["tumour_probability"]) == answer["tumour_probability"]
            assert row["has_tumour"] == str(answer["has_tumour"]).lower()  # CSV booleans: true / false
    bad = named["broken.png"]
    assert bad["status"] == "error" and bad["error"].startswith("HTTP 4") and bad["tumour_probability"] == ""
    for row in rows:  # the model that served the run, on failed rows too
        assert (row["model"], row["model_version"]) == (classifier["name"], classifier["version"])


def test_non_recursive_takes_only_the_top_folder(service_url, slice_folder, tmp_path):
    out = tmp_path / "rows.csv"
    assert main(["classify", str(slice_folder), "--url", service_url, "-q", "-o", str(out)]) == 1
    assert set(by_name(read_csv(out), slice_folder)) == {"a.tif", "broken.png"}


def test_exclude_skips_matching_files_in_folders(service_url, slice_folder, tmp_path):
    out = tmp_path / "rows.csv"
    argv = ["classify", str(slice_folder), "-r", "--exclude", "broken.*", "--exclude", "case1/deep/*"]
    assert main([*argv, "--url", service_url, "-q", "-o", str(out)]) == 0
    assert set(by_name(read_csv(out), slice_folder)) == GOOD - {"case1/deep/c.png"}


def test_segment_jsonl_with_mask_pngs(service_url, slice_folder, tmp_path):
    out, masks = tmp_path / "rows.jsonl", tmp_path / "masks"
    status = main(
        [
            "segment",
            str(slice_folder),
            "-r",
            "--url",
            service_url,
            "--format",
            "jsonl",
            "-o",
            str(out),
            "--masks-dir",
            str(masks),
            "-q",
        ]
    )
    assert status == 1, "broken.png failed"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    named = by_name(rows, slice_folder)
    assert set(named) == GOOD | {"broken.png"}
    segmenter = served(service_url)["segmenter"]
    assert {(r["model"], r["model_version"]) for r in rows} == {(segmenter["name"], segmenter["version"])}
    assert named["broken.png"]["status"] == "error" and named["broken.png"]["mask_path"] is None
    assert named["case1/IM0001"]["tumour_area_mm2"] == pytest.approx(
        named["case1/IM0001"]["tumour_pixels"] * 0.25
    )
    assert named["a.tif"]["tumour_area_mm2"] is None  # no pixel spacing in a TIFF
    for name in GOOD:
        row = named[name]
        assert row["status"] == "ok" and row["error"] is None
        mask = np.asarray(Image.open(row["mask_path"]))
        assert mask.shape == (256, 256) and set(np.unique(mask)) <= {0, 255}
        assert int((mask == 255).sum()) == row["tumour_pixels"]
    assert (masks / "case1" / "deep" / "c.mask.png").is_file()
    assert (masks / "case1" / "IM0001.mask.png").is_file()


def test_analyze_png_masks_and_explicit_files(service_url, lgg_slices, tmp_path):
    black = tmp_path / "black.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(black)
    out, masks = tmp_path / "rows.csv", tmp_path / "masks"
    status = main(
        [
            "analyze",
            str(lgg_slices[0]),
            str(black),
            "--url",
            service_url,
            "--mask-format",
            "png",
            "--masks-dir",
            str(masks),
            "-o",
            str(out),
            "-q",
        ]
    )
    assert status == 0
    first, second = read_csv(out)
    assert first["has_tumour"] == "true" and int(first["tumour_pixels"]) > 0 and first["mask_path"]
    assert second["has_tumour"] == "false" and second["tumour_pixels"] == "" and second["mask_path"] == ""
    models = served(service_url)
    assert (first["model"], first["model_version"]) == (
        models["classifier"]["name"],
        models["classifier"]["version"],
    )
    assert (first["segmenter_model"], first["segmenter_version"]) == (
        models["segmenter"]["name"],
        models["segmenter"]["version"],
    )
    assert second["segmenter_model"] == "", "no segmenter ran on a slice called healthy"
    assert sorted(p.name for p in masks.iterdir()) == [f"{lgg_slices[0].stem}.mask.png"]


def test_all_failed_exits_1(service_url, tmp_path, capsys):
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"nope")
    status = main(
        [
            "classify",
            str(broken),
            str(tmp_path / "missing.png"),
            "--url",
            service_url,
            "--format",
            "jsonl",
            "-q",
        ]
    )
    assert status == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["status"] for r in rows] == ["error", "error"]
    assert "No such file" in rows[1]["error"]


def test_api_key_option_and_environment(keyed_service_url, lgg_slices, tmp_path, monkeypatch, capsys):
    args = ["classify", str(lgg_slices[0]), "--url", keyed_service_url, "-q", "--format", "jsonl"]
    monkeypatch.delenv("MRI_API_KEY", raising=False)
    assert main([*args, "-o", str(tmp_path / "none.jsonl")]) == 2, (
        "a refused key ends the run before any file"
    )
    assert "refused the API key (HTTP 401)" in capsys.readouterr().err
    assert not (tmp_path / "none.jsonl").exists()
    assert main([*args, "--api-key", API_KEY, "-o", str(tmp_path / "opt.jsonl")]) == 0
    monkeypatch.setenv("MRI_API_KEY", API_KEY)
    assert main([*args, "-o", str(tmp_path / "env.jsonl")]) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["classify"],
        ["frobnicate", "x.png"],
        ["classify", "x.png", "--masks-dir", "m"],
        ["classify", "x.png", "--concurrency", "0"],
        ["classify", "x.png", "--format", "xml"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_empty_folder_or_unwritable_output_exits_2(service_url, tmp_path, lgg_slices, capsys):
    assert main(["classify", str(tmp_path), "-q", "--url", service_url]) == 2
    assert "no input files found" in capsys.readouterr().err
    argv = [
        "classify",
        str(lgg_slices[0]),
        "-q",
        "--url",
        service_url,
        "-o",
        str(tmp_path / "no" / "dir.csv"),
    ]
    assert main(argv) == 2
    assert "cannot write" in capsys.readouterr().err


def test_console_script(service_url, lgg_slices, tmp_path):
    """The installed ``mri-client`` entry point, as an integration script would call it."""
    script = shutil.which("mri-client", path=str(Path(sys.executable).parent)) or shutil.which("mri-client")
    assert script, "install the client: pip install -e ./client"
    env = {**os.environ, "MRI_URL": service_url}
    done = subprocess.run(
        [script, "classify", *map(str, lgg_slices[:2]), "--format", "jsonl"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["status"] for r in rows] == ["ok", "ok"]
    # stderr is a pipe here, not a terminal: no bar redrawn with carriage returns, only the summary
    assert "\r" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("mri-client: classify: 2 files, 2 ok, 0 failed (")
