"""The gateway image, started without a Docker engine: its file set built exactly as the Dockerfile's
``gateway`` stage copies it (COPY sources through .dockerignore, into a folder standing for its
WORKDIR) and run on exactly the packages of its requirements (``python -S`` with a folder of links
to the distributions ``deps-gateway`` installs, the client package (client/, built there from its
COPY) included, nothing else): every module of the package imports,
``python -m gateway --help`` works, and the image's CMD starts a gateway that the image's
HEALTHCHECK finds healthy, that answers a C-ECHO from a known AE, and that SIGTERM stops cleanly."""

from __future__ import annotations

import fnmatch
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from tests.deploy.conftest import (
    installed_projects,
    installed_requirement_files,
    parse_dockerfile,
    requirement_lines,
)
from tests.deploy.test_container_start import image_site
from tests.gateway.conftest import REPO, wait_for
from tests.gateway.orthanc import free_port

STAGE = "gateway"


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``relative`` out of the build context (the last match wins)."""
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negate, bare = pattern.startswith("!"), pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatch(p, bare) or fnmatch.fnmatch(p, bare.replace("**/", "")) for p in prefixes):
            result = not negate
    return result


def _copy_tree(source: str, target: Path, patterns: list[str]) -> None:
    """The files of ``source`` (repo-relative) that the build context holds, copied under ``target``."""
    for path in sorted((REPO / source).rglob("*")) if (REPO / source).is_dir() else [REPO / source]:
        relative = path.relative_to(REPO).as_posix()
        if path.is_file() and not _ignored(relative, patterns):
            destination = target / path.relative_to(REPO / source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> dict:
    """``{"app": the WORKDIR's files, "python": the command, "env": the image's environment}``."""
    dockerfile = parse_dockerfile((REPO / "Dockerfile").read_text())
    stage = dockerfile.stage(STAGE)
    root = tmp_path_factory.mktemp("gateway-image")
    app = root / dockerfile.effective(STAGE, "WORKDIR").value.strip("/")
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copies = [ins.value.split() for ins in stage.all("COPY") if "--from=" not in ins.value]
    assert copies, "the gateway stage copies its code"
    for *sources, target in copies:
        for source in sources:
            _copy_tree(source, app / target, patterns)
    files = installed_requirement_files(dockerfile, STAGE)
    lines = [line for f in files for line in requirement_lines(REPO / f)]
    projects = installed_projects(dockerfile, STAGE)
    assert projects == ["client"], "deps-gateway installs the client package"
    deps_copies = [ins.value.split()[:-1] for s in dockerfile.chain("deps-gateway") for ins in s.all("COPY")]
    packages = {}
    for project in projects:
        assert any(f"{project}/" in sources for sources in deps_copies), (
            f"deps-gateway does not COPY {project}/"
        )
        config = tomllib.loads((REPO / project / "pyproject.toml").read_text())
        lines += config["project"]["dependencies"]  # pip resolves the package's ranges with the pins
        where = REPO / project / config["tool"]["setuptools"]["packages"]["find"]["where"][0]
        packages |= {
            p.relative_to(REPO).as_posix(): p.name for p in where.iterdir() if (p / "__init__.py").is_file()
        }
    site = image_site(lines, root / "site-packages")
    for source, name in packages.items():  # installed as pip builds it: the package's files, no link to here
        _copy_tree(source, site / name, patterns)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MRI_", "PYTHON"))}
    env |= {k: v for k, v in dockerfile.env(STAGE).items() if k != "PATH"}
    assert env["PYTHONPATH"] == "/app"
    env |= {
        "PYTHONPATH": os.pathsep.join([str(app), str(site)]),
        "MRI_GATEWAY_STATE_DIR": str(root / "state"),
    }
    return {"app": app, "python": [sys.executable, "-S"], "env": env, "dockerfile": dockerfile}


def _run(image, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*image["python"], *args], cwd=image["app"], env=image["env"], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def test_the_file_set_holds_the_package_and_what_it_imports_and_nothing_else(image):
    app = image["app"]
    assert (app / "gateway" / "__main__.py").is_file() and not (app / "tests").exists()
    assert not list(app.rglob("__pycache__"))
    assert not (app / "client").exists(), "the client package is installed in the venv, not copied into /app"
    walk = "import gateway, importlib, pkgutil; [importlib.import_module(m.name) for m in pkgutil.walk_packages(gateway.__path__, 'gateway.')]"
    run = _run(
        image,
        "-c",
        walk
        + "; import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'service', 'training')))",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]", (
        "the gateway image runs no model and imports neither service nor training"
    )


def test_help_runs_in_the_image(image):
    run = _run(image, "-m", "gateway", "--help")
    assert run.returncode == 0, run.stderr
    assert "MRI_GATEWAY_API_TOKEN [unset]" in run.stdout and "retry" in run.stdout


@pytest.mark.slow
def test_the_image_starts_is_healthy_answers_and_stops_cleanly(image):
    dockerfile = image["dockerfile"]
    cmd = dockerfile.effective(STAGE, "CMD").exec_form
    assert cmd[0] == "python"
    dicom_port, http_port = free_port(), free_port()
    env = image["env"] | {
        "MRI_GATEWAY_DICOM_PORT": str(dicom_port), "MRI_GATEWAY_DICOM_HOST": "127.0.0.1",
        "MRI_GATEWAY_HTTP_PORT": str(http_port), "MRI_GATEWAY_CALLING_AES": "SCANNER",
        "MRI_GATEWAY_MIN_FREE_DISK_MB": "0",
    }  # fmt: skip
    health = list(dockerfile.effective(STAGE, "HEALTHCHECK").exec_form)
    health[0] = sys.executable
    health[-1] = health[-1].replace("127.0.0.1:8090", f"127.0.0.1:{http_port}")
    log = image["app"].parent / "gateway.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*image["python"], *cmd[1:]], cwd=image["app"], env=env, stdout=out, stderr=out
        )
    try:

        def healthy() -> bool:
            assert process.poll() is None, log.read_text()
            return subprocess.run(health, capture_output=True, timeout=30, check=False).returncode == 0

        wait_for(healthy, 60, "the image's HEALTHCHECK to pass", every=0.5)
        ae = AE(ae_title="SCANNER")
        ae.add_requested_context(Verification)
        assoc = ae.associate("127.0.0.1", dicom_port, ae_title="MRI-AI")
        assert assoc.is_established and assoc.send_c_echo().Status == 0
        assoc.release()
    finally:
        process.send_signal(signal.SIGTERM)  # what `docker stop` sends
        code = process.wait(30)
    assert code in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()
