"""scripts/requirements.py: docker/requirements-*.txt are what pyproject.toml's pins give."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("requirements_script", REPO / "scripts" / "requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docker_requirement_files_match_pyproject():
    assert _script().stale() == [], "run: python scripts/requirements.py (pyproject.toml holds the pins)"


def _copy_project(tmp_path):
    (tmp_path / "docker").mkdir()
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    for name in ("common", "cpu", "gpu"):
        shutil.copy(REPO / "docker" / f"requirements-{name}.txt", tmp_path / "docker")
    return tmp_path


def test_a_changed_pin_makes_the_files_stale(tmp_path):
    project = _copy_project(tmp_path)
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text.replace('"tensorflow-cpu==2.21.0', '"tensorflow-cpu==2.22.0'))
    with pytest.raises(ValueError, match="one TensorFlow version"):  # the two TF lines must agree
        _script().render(project / "pyproject.toml")

    bumped = text.replace("tensorflow-cpu==2.21.0", "tensorflow-cpu==2.22.0").replace(
        "tensorflow==2.21.0", "tensorflow==2.22.0"
    )
    (project / "pyproject.toml").write_text(bumped)
    assert _script().stale(project) == ["docker/requirements-gpu.txt"]  # the CPU image has no TensorFlow
    assert "tensorflow[and-cuda]==2.22.0\n" in _script().render(project / "pyproject.toml")["requirements-gpu.txt"]


def test_an_unpinned_serving_dependency_is_refused(tmp_path):
    project = _copy_project(tmp_path)
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text.replace('"numpy==2.4.6"', '"numpy>=1.26"'))
    with pytest.raises(ValueError, match="numpy>=1.26.*must be pinned"):
        _script().render(project / "pyproject.toml")
