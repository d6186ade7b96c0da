"""The repository as the tests see it: its root, its scripts and the serving pins of pyproject.toml."""

from __future__ import annotations

import functools
import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"


@functools.cache
def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as a module (``scripts/`` is no package), registered in ``sys.modules``
    under ``name`` (dataclasses look their module up there); loaded once per test session. As when
    a script runs, the other scripts are importable by name (``scripts/`` joins ``sys.path``)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.append(str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def serving_pins(pyproject: Path = REPO / "pyproject.toml") -> dict[str, Requirement]:
    """``name -> requirement`` of every serving dependency (``[project].dependencies``), as pinned
    there (``tensorflow`` and ``tensorflow-cpu`` both, whatever the machine)."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return {(req := Requirement(line)).name.lower(): req for line in dependencies}


def pinned_version(name: str, pyproject: Path = REPO / "pyproject.toml") -> str:
    """The ``==`` version pyproject.toml pins ``name`` to (a serving dependency or an inference
    runtime's extra)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = [*project["dependencies"], *(line for extra in project.get("optional-dependencies", {}).values()
                                          for line in extra)]
    pins = {(req := Requirement(line)).name.lower(): req for line in lines}
    (spec,) = pins[name].specifier
    assert spec.operator == "==", f"{name} is not pinned exactly: {spec}"
    return spec.version
