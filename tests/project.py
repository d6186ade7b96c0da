"""The repository as the tests see it: its root and the serving pins of pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def serving_pins(pyproject: Path = REPO / "pyproject.toml") -> dict[str, Requirement]:
    """``name -> requirement`` of every serving dependency (``[project].dependencies``), as pinned
    there (``tensorflow`` and ``tensorflow-cpu`` both, whatever the machine)."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return {(req := Requirement(line)).name.lower(): req for line in dependencies}


def pinned_version(name: str, pyproject: Path = REPO / "pyproject.toml") -> str:
    """The ``==`` version pyproject.toml pins ``name`` to (a serving dependency or an inference
    runtime's extra)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = [
        *project["dependencies"],
        *(line for extra in project.get("optional-dependencies", {}).values() for line in extra),
    ]
    pins = {(req := Requirement(line)).name.lower(): req for line in lines}
    (spec,) = pins[name].specifier
    assert spec.operator == "==", f"{name} is not pinned exactly: {spec}"
    return spec.version
