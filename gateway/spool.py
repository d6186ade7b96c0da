"""The spool: received instances on disk, one folder per study and series, written before they are
acknowledged, and each job's results, written once and sent as they are (the same SOP Instance
UIDs on every try).

``spool/<study>/<series>/<instance>.dcm`` (folder and file names are SHA-256 digests of the UIDs, so
nothing from the network becomes a path) and ``results/<job id>/<name>.dcm`` with ``manifest.json``
(the names, written last: results without it are not complete and are made again). Every file is
written to a temporary name, flushed to disk and renamed: a file either is complete or is not there.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
from pathlib import Path

import pydicom

from gateway.content import digest

logger = logging.getLogger(__name__)

SUFFIX = ".dcm"
MANIFEST = "manifest.json"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def dataset_bytes(ds: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


class Spool:
    """Instances by study and series, and results by job."""

    def __init__(self, spool_dir: Path, results_dir: Path) -> None:
        self.spool_dir, self.results_dir = spool_dir, results_dir
        spool_dir.mkdir(parents=True, exist_ok=True)
        results_dir.mkdir(parents=True, exist_ok=True)

    def study_dir(self, study_uid: str) -> Path:
        return self.spool_dir / digest(study_uid)

    def series_dir(self, study_uid: str, series_uid: str) -> Path:
        return self.study_dir(study_uid) / digest(series_uid)

    def store(self, study_uid: str, series_uid: str, sop_uid: str, data: bytes) -> Path:
        """Keep one instance (Part 10 bytes); the same SOP Instance UID again replaces it."""
        path = self.series_dir(study_uid, series_uid) / f"{digest(sop_uid)}{SUFFIX}"
        write_atomic(path, data)
        return path

    def series_files(self, study_uid: str, series_uid: str) -> list[Path]:
        folder = self.series_dir(study_uid, series_uid)
        return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []

    def study_series_dirs(self, study_uid: str) -> list[Path]:
        folder = self.study_dir(study_uid)
        return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def remove_series(self, study_uid: str, series_uid: str) -> None:
        shutil.rmtree(self.series_dir(study_uid, series_uid), ignore_errors=True)
        study = self.study_dir(study_uid)
        if study.is_dir() and not any(study.iterdir()):
            study.rmdir()

    def result_dir(self, job_id: int) -> Path:
        return self.results_dir / str(job_id)

    def save_results(self, job_id: int, named: dict[str, pydicom.Dataset]) -> None:
        """Keep a job's results (``name -> dataset``, sent in that order), then their manifest."""
        for name, ds in named.items():
            write_atomic(self.result_dir(job_id) / f"{name}{SUFFIX}", dataset_bytes(ds))
        write_atomic(self.result_dir(job_id) / MANIFEST, json.dumps(list(named)).encode())

    def load_results(self, job_id: int) -> list[pydicom.Dataset] | None:
        """The job's saved results in the order saved; None unless they were all saved."""
        manifest = self.result_dir(job_id) / MANIFEST
        if not manifest.is_file():
            return None
        paths = [self.result_dir(job_id) / f"{name}{SUFFIX}" for name in json.loads(manifest.read_text())]
        if not all(p.is_file() for p in paths):
            return None
        return [pydicom.dcmread(p) for p in paths]

    def remove_results(self, job_id: int) -> None:
        shutil.rmtree(self.result_dir(job_id), ignore_errors=True)
