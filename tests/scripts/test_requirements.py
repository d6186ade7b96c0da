"""scripts/requirements.py: docker/requirements-*.txt are what pyproject.toml's pins give.

The versions come from pyproject.toml itself: a bump there changes nothing here.
"""

from __future__ import annotations

import re
import shutil

import pytest
from packaging.version import Version

from scripts import requirements
from tests.project import REPO, pinned_version, serving_pins


def _script():
    return requirements


def test_docker_requirement_files_match_pyproject():
    assert _script().stale() == [], "run: python -m scripts.requirements (pyproject.toml holds the pins)"


def _copy_project(tmp_path):
    (tmp_path / "docker").mkdir()
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "client").mkdir()
    shutil.copy(REPO / "client" / "pyproject.toml", tmp_path / "client" / "pyproject.toml")
    for name in ("common", "cpu", "gpu", "gateway"):
        shutil.copy(REPO / "docker" / f"requirements-{name}.txt", tmp_path / "docker")
    return tmp_path


def _next_minor(version: str) -> str:
    release = Version(version).release
    return f"{release[0]}.{release[1] + 1}.0"


def test_a_changed_pin_makes_the_files_stale(tmp_path):
    project = _copy_project(tmp_path)
    text = (project / "pyproject.toml").read_text()
    tf = pinned_version("tensorflow-cpu")
    assert pinned_version("tensorflow") == tf
    bumped = _next_minor(tf)
    cpu_only = text.replace(f'"tensorflow-cpu=={tf}', f'"tensorflow-cpu=={bumped}')
    assert cpu_only != text
    (project / "pyproject.toml").write_text(cpu_only)
    with pytest.raises(ValueError, match="one TensorFlow version"):  # the two TF lines must agree
        _script().render(project / "pyproject.toml")

    both = cpu_only.replace(f'"tensorflow=={tf}', f'"tensorflow=={bumped}')
    assert both != cpu_only
    (project / "pyproject.toml").write_text(both)
    assert _script().stale(project) == ["docker/requirements-gpu.txt"]  # the CPU image has no TensorFlow
    gpu = _script().render(project / "pyproject.toml")["requirements-gpu.txt"]
    assert f"tensorflow[and-cuda]=={bumped}\n" in gpu


def test_an_unpinned_serving_dependency_is_refused(tmp_path):
    project = _copy_project(tmp_path)
    text = (project / "pyproject.toml").read_text()
    name = next(iter(serving_pins()))
    version = pinned_version(name)
    loose = text.replace(f'"{name}=={version}"', f'"{name}>={version}"')
    assert loose != text
    (project / "pyproject.toml").write_text(loose)
    with pytest.raises(ValueError, match=re.escape(f"{name}>={version}") + ".*must be pinned"):
        _script().render(project / "pyproject.toml")


def test_a_client_dependency_without_a_pin_for_the_gateway_image_is_refused(tmp_path):
    project = _copy_project(tmp_path)
    assert _script().stale(project) == []
    client = project / "client" / "pyproject.toml"
    text = client.read_text()
    added = text.replace("dependencies = [", 'dependencies = [\n    "rich>=13",', 1)
    assert added != text
    client.write_text(added)
    with pytest.raises(ValueError, match=r"the client package's dependencies \['rich'\] need a pin"):
        _script().render(project / "pyproject.toml")
