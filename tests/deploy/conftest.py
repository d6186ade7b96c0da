"""Fixtures for the deployment tests: a parsed Dockerfile, the compose file, models and slices.

No Docker engine runs in CI, so the tests read the Dockerfile and ``docker-compose.yml`` and
start the service the way the image does (see ``test_container_start.py``).
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FIXTURE_SLICES = REPO / "tests" / "fixtures" / "lgg"


@dataclass
class Instruction:
    """One Dockerfile instruction: keyword (upper case), raw value and, for exec form, the list."""

    line: int
    keyword: str
    value: str
    exec_form: list[str] | None = None


@dataclass
class Stage:
    """A build stage: ``FROM base AS name`` and its instructions."""

    index: int
    name: str | None
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass
class Dockerfile:
    """A parsed Dockerfile: global ARG defaults and the stages in order."""

    args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"no stage named {name!r}")

    def chain(self, target: str) -> list[Stage]:
        """The stages a target inherits from, root first (``FROM <stage>`` links)."""
        chain = [self.stage(target)]
        names = {s.name for s in self.stages}
        while chain[0].base in names:
            chain.insert(0, self.stage(chain[0].base))
        return chain

    def effective(self, target: str, keyword: str) -> Instruction | None:
        """The instruction in force for ``target`` (the last one along its chain), or None."""
        found = [i for s in self.chain(target) for i in s.all(keyword)]
        return found[-1] if found else None

    def env(self, target: str) -> dict[str, str]:
        """ENV values in force for ``target`` (``KEY=VALUE`` form only)."""
        env: dict[str, str] = {}
        for stage in self.chain(target):
            for ins in stage.all("ENV"):
                env.update(re.findall(r"(\w+)=(\S+)", ins.value))
        return env


def parse_dockerfile(text: str) -> Dockerfile:
    """Parse a Dockerfile: comments, ``\\`` continuations, exec form JSON, stages, global ARGs."""
    logical: list[tuple[int, str]] = []
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if not buf:
            start = number
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        logical.append((start, buf + stripped))
        buf = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in logical:
        keyword, _, value = line.partition(" ")
        keyword, value = keyword.upper(), value.strip()
        if keyword == "FROM":
            match = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", value, re.IGNORECASE)
            assert match, f"line {number}: cannot parse FROM {value!r}"
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), match.group(1))
            stages.append(Stage(len(stages), match.group(2), base))
            continue
        if not stages:
            if keyword == "ARG":
                name, _, default = value.partition("=")
                args[name] = default
            continue
        exec_form = None
        body = re.sub(r"^(--\w[\w-]*=\S+\s+)*", "", value)
        if keyword == "HEALTHCHECK":
            body = re.sub(r"^CMD\s+", "", body)
        if body.startswith("["):
            exec_form = json.loads(body)
        stages[-1].instructions.append(Instruction(number, keyword, value, exec_form))
    return Dockerfile(args, stages)


def requirement_lines(path: Path) -> list[str]:
    """Requirement lines of a pip requirements file, following ``-r`` includes."""
    lines: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            lines += requirement_lines(path.parent / line.split(maxsplit=1)[1])
        else:
            lines.append(line)
    return lines


def _venv_installs(dockerfile: Dockerfile, target: str) -> list[list[str]]:
    """The arguments of every ``pip install`` that builds the venv ``target`` copies from a stage."""
    copies = [i for i in dockerfile.stage(target).all("COPY") if "/opt/venv" in i.value]
    assert len(copies) == 1, f"{target}: expected one COPY of /opt/venv"
    deps = re.search(r"--from=(\S+)", copies[0].value).group(1)
    runs = [i.value for s in dockerfile.chain(deps) for i in s.all("RUN")]
    return [command.split() for run in runs for command in re.findall(r"pip install ([^&;\\]+)", run)]


def installed_requirement_files(dockerfile: Dockerfile, target: str) -> list[str]:
    """The files ``pip install -r`` installs into the venv that ``target`` copies from a stage."""
    return [
        args[i + 1]
        for args in _venv_installs(dockerfile, target)
        for i, a in enumerate(args[:-1])
        if a == "-r"
    ]


def installed_projects(dockerfile: Dockerfile, target: str) -> list[str]:
    """The repository folders (``./client``) that ``pip install`` installs as projects into that venv."""
    return [
        a.removeprefix("./").rstrip("/")
        for args in _venv_installs(dockerfile, target)
        for i, a in enumerate(args)
        if a.startswith("./") and (i == 0 or args[i - 1] != "-r")
    ]


@pytest.fixture(scope="session")
def requirement_files(dockerfile):
    """``target -> requirement files`` (repo-relative) that the image's venv is built from."""
    return lambda target: installed_requirement_files(dockerfile, target)


@pytest.fixture(scope="session")
def image_requirements(dockerfile):
    """``target -> requirement lines`` that the image's venv is built from."""

    def lines(target: str) -> list[str]:
        files = installed_requirement_files(dockerfile, target)
        return [line for f in files for line in requirement_lines(REPO / f)]

    return lines


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose-style ``${VAR}``/``${VAR:-default}`` interpolation (unset vars: default or '')."""
    env = env or {}

    def repl(match: re.Match[str]) -> str:
        return env.get(match.group(1)) or (match.group(3) or "")

    return re.sub(r"\$\{(\w+)(:?-([^}]*))?\}", repl, value)


def interpolate_tree(node, env: dict[str, str] | None = None):
    """Apply :func:`interpolate` to every string in a loaded YAML tree."""
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, env) for v in node]
    return interpolate(node, env) if isinstance(node, str) else node


@pytest.fixture(scope="session")
def dockerfile() -> Dockerfile:
    return parse_dockerfile((REPO / "Dockerfile").read_text())


@pytest.fixture(scope="session")
def compose_raw() -> dict:
    """docker-compose.yml as loaded (YAML merge keys resolved, no interpolation)."""
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="session")
def compose(compose_raw) -> dict:
    """docker-compose.yml after interpolation with the defaults, as ``docker compose`` sees it."""
    return interpolate_tree(compose_raw)


@pytest.fixture(scope="session")
def compose_schema() -> dict:
    return json.loads((HERE / "compose_spec.json").read_text())


@pytest.fixture(scope="session")
def lgg_slices() -> list[Path]:
    """Real LGG slices (256x256x3 TIFF/JPEG, no masks) from tests/fixtures/lgg/, TIFF first."""
    images = [p for p in FIXTURE_SLICES.rglob("*.*") if p.suffix in {".tif", ".jpg"}]
    slices = sorted(
        (p for p in images if not p.stem.endswith("_mask")), key=lambda p: (p.suffix != ".tif", p.name)
    )
    if not slices:
        pytest.fail(f"no LGG slices under {FIXTURE_SLICES}")
    return slices


def load_helper(name: str):
    """Import a helper module of this folder by file path (works with or without __init__.py)."""
    module_spec = importlib.util.spec_from_file_location(f"_deploy_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def interpolate_compose():
    """The compose interpolation function, for tests that try other environments."""
    return interpolate_tree


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The bundled models/ (what the image bakes in); missing models are a failure, not a fallback."""
    from contract import read_card
    from contract.layout import layout_files

    real = REPO / "models"
    missing = [f for f in layout_files(read_card(real)) if not (real / f).is_file()]
    assert not missing, f"models/ lacks {missing}: the image bakes the bundled models in"
    return real
