"""``mri-client`` as an integration script uses it, against the real service on loopback:
the dataset's own folder layout, a dead, silent or not-ready service, a closed pipe, progress
on a non-terminal, the defaults in ``--help``."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
from mri_client.cli import main

from tests.servers import bound_socket, serve_app, service_app

from .conftest import FIXTURE_SLICES

CASE = FIXTURE_SLICES / "kaggle_3m" / "TCGA_CS_4942_19970222"  # 3 slices, each with its _mask file


def _slices(folder):
    return sorted(p.name for p in folder.iterdir() if not p.stem.endswith("_mask"))


def test_a_case_folder_of_the_dataset_gives_one_row_per_slice(service_url, capsys):
    assert main(["classify", str(CASE), "--url", service_url, "--format", "jsonl", "-q"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [os.path.basename(r["path"]) for r in rows] == _slices(CASE), "the _mask files are not slices"
    assert all(r["status"] == "ok" and r["model"] and r["model_version"] for r in rows)
    assert captured.err.strip().splitlines()[-1].startswith("mri-client: classify: 3 files, 3 ok, 0 failed (")

    assert (
        main(["classify", str(CASE), "--url", service_url, "--format", "jsonl", "-q", "--include-masks"]) == 0
    )
    assert len(capsys.readouterr().out.splitlines()) == 6


def test_a_dead_url_exits_2_after_the_default_wait(tmp_path, lgg_slices, capsys):
    with bound_socket() as sock:  # bound, never listening: every connection is refused
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        status = main(["classify", str(lgg_slices[0]), "--url", url, "-o", str(tmp_path / "r.csv")])
    err = capsys.readouterr().err
    assert status == 2
    assert (
        f"mri-client: {url} is not ready after 5 s: cannot connect (ConnectError" in err
        and "no file sent" in err
    )
    assert not (tmp_path / "r.csv").exists()


def test_a_silent_server_exits_2_after_the_wait(lgg_slices, capsys):
    with socket.socket() as sock:  # listens but never answers: the TCP handshake works, HTTP never does
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        status = main(["classify", str(lgg_slices[0]), "--url", url, "--wait", "1"])
    assert status == 2
    assert "is not ready after 1 s: no answer within 1 s" in capsys.readouterr().err


def test_a_service_whose_models_cannot_load_exits_2(tmp_path, lgg_slices, capsys):
    with serve_app(service_app(tmp_path / "no-models"), ready=False) as url:
        status = main(["classify", str(lgg_slices[0]), "--url", url, "--wait", "1"])
    err = capsys.readouterr().err
    assert status == 2
    assert "is not ready after 1 s: HTTP 503" in err and "could not be loaded" in err


def test_a_closed_pipe_ends_the_run_quietly(make_stub, service_url, lgg_slices, tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    for number in range(5):
        shutil.copy(lgg_slices[0], folder / f"slice_{number}.tif")
    with make_stub(service_url, failures=0, hold_after=1) as stub:  # the 2nd file waits for release
        argv = ["classify", str(folder), "--url", stub.url, "--format", "jsonl", "-c", "1", "-q"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "mri_client", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        first = proc.stdout.readline()
        proc.stdout.close()  # what `| head -1` does after its line
        stub.release.set()
        err = proc.stderr.read()
        status = proc.wait(60)
    assert json.loads(first)["status"] == "ok"
    assert status == 141 and "Traceback" not in err and "Exception ignored" not in err
    assert "output closed after 1 of 5 rows" in err
    assert len(stub.seen) <= 3, "files left when the reader went away are not sent"


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(service_url, capsys):
    argv = ["classify", str(CASE), "--url", service_url, "-c", "1", "-o", os.devnull]
    assert main([*argv, "--progress-every", "0"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" files,")[0] for line in lines[:3]] == [
        "classify: 1/3",
        "classify: 2/3",
        "classify: 3/3",
    ]
    assert "\r" not in "".join(lines)
    assert main(argv) == 0  # every 10 s by default: a short run prints only its summary
    assert [line.split(":")[0] for line in capsys.readouterr().err.splitlines()] == ["mri-client"]


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert info.value.code == 0
    for expected in (
        "--concurrency CONCURRENCY parallel requests (default: 4)",
        "(default: 5.0)",
        "(default: csv)",
    ):
        assert expected in text, expected
