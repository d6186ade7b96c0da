"""Start the service the way the image does, without a Docker engine.

The environment must hold what the image's ``pip install -r docker/requirements-cpu.txt``
installs (CI runs that same command). The service runs on exactly those packages: ``python -S``
(no site-packages) with a folder of links to the distributions the CPU image's requirements pull
in and nothing else (no TensorFlow, no Keras), as the image would; it is started with the
Dockerfile's CMD (host and port swapped for 127.0.0.1 and a free port) and ENV, from the
repository root (the image's WORKDIR holds the same ``contract/``, ``imaging/`` and ``service/``), against a
models folder. Then the image's HEALTHCHECK command and a real slice on /classify must work, and
SIGTERM (``docker stop``) must end it cleanly.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from packaging.requirements import Requirement

from tests.project import REPO
from tests.servers import bound_socket, serve_process

STARTUP_TIMEOUT_S = 300  # the real ResNet50 models load slowly on a busy CI machine
LOCAL_PACKAGES = {"contract", "imaging", "service"}


def requirement_closure(lines: list[str]) -> set[str]:
    """Installed distributions the requirements pull in; asserts each one is satisfied."""
    seen: set[str] = set()
    todo = [(Requirement(line), None) for line in lines]
    while todo:
        req, extra = todo.pop()
        env = {"extra": extra or ""}
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = req.name.lower().replace("_", "-")
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{req} is not installed: run pip install -r docker/requirements-cpu.txt")
        assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version} vs {req}"
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        for dep in metadata.requires(req.name) or []:
            dep_req = Requirement(dep)
            for wanted in [None, *req.extras]:
                if dep_req.marker is None or dep_req.marker.evaluate({"extra": wanted or ""}):
                    todo.append((dep_req, wanted))
                    break
    return {key.split("[")[0] for key in seen}


def third_party_imports() -> dict[str, str]:
    """``module -> file`` of every non-optional top-level import in contract/, imaging/ and service/."""
    found: dict[str, str] = {}
    for package in LOCAL_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            optional = {
                id(n)
                for t in ast.walk(tree)
                if isinstance(t, ast.Try) and any("ImportError" in ast.dump(h) for h in t.handlers)
                for n in ast.walk(t)
            }
            for node in ast.walk(tree):
                if id(node) in optional:
                    continue
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in LOCAL_PACKAGES | {"__future__"}:
                        found.setdefault(top, str(path.relative_to(REPO)))
    return found


def test_environment_has_what_the_image_installs(image_requirements):
    closure = requirement_closure(image_requirements("cpu"))
    assert {"onnxruntime", "openvino", "fastapi", "uvicorn"} <= closure
    assert not closure & {"tensorflow", "tensorflow-cpu", "keras"}, "the CPU image runs no TensorFlow"


def image_site(lines: list[str], folder: Path) -> Path:
    """A folder of links to the installed distributions ``lines`` pull in: the image's site-packages."""
    site = Path(metadata.distribution("fastapi").locate_file(""))
    folder.mkdir(parents=True, exist_ok=True)
    for name in requirement_closure(lines):
        dist = metadata.distribution(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            if (site / top).exists() and not (folder / top).exists():
                (folder / top).symlink_to(site / top)
    return folder


@pytest.fixture(scope="module")
def cpu_image_site(tmp_path_factory, image_requirements) -> Path:
    return image_site(image_requirements("cpu"), tmp_path_factory.mktemp("cpu-image") / "site-packages")


def image_python(site: Path) -> tuple[list[str], dict[str, str]]:
    """A Python command on ``site`` and the repository only (``-S``: no site-packages), and its PYTHONPATH."""
    return [sys.executable, "-S"], {"PYTHONPATH": os.pathsep.join([str(REPO), str(site)])}


def test_the_dockerfile_refuses_tensorflow_in_the_cpu_image(dockerfile, cpu_image_site):
    runs = [i.value for i in dockerfile.stage("deps-cpu").all("RUN")]
    check = re.search(r'python -c "(.+)"', runs[-1]).group(1)
    python, path = image_python(cpu_image_site)
    as_image = subprocess.run(
        [*python, "-c", check], env={**os.environ, **path}, capture_output=True, text=True, check=False
    )
    here = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=False)
    assert as_image.returncode == 0, as_image.stderr
    assert here.returncode != 0 and "tensorflow" in here.stderr, "the check must see TensorFlow where it is"


def test_image_requirements_cover_the_service_imports(image_requirements):
    closure = requirement_closure(image_requirements("cpu"))
    distributions = metadata.packages_distributions()
    missing = {}
    for module, where in third_party_imports().items():
        dists = {d.lower().replace("_", "-") for d in distributions.get(module, [])}
        if not dists & closure:
            missing[module] = where
    assert not missing, f"imported but not installed by docker/requirements-*.txt: {missing}"


def service_command(dockerfile, python: list[str]) -> list[str]:
    """The image's CMD with uvicorn run by ``python`` and without its host and port (the server
    helper binds 127.0.0.1, port 0)."""
    cmd = list(dockerfile.effective("cpu", "CMD").exec_form)
    assert cmd[0] == "uvicorn"
    cmd[0:1] = [*python, "-m", "uvicorn"]
    for option in ("--host", "--port"):
        at = cmd.index(option)
        del cmd[at : at + 2]
    return cmd


def service_env(dockerfile, models_dir: Path, path: dict[str, str]) -> dict[str, str]:
    """This environment minus MRI_* settings, plus the image's ENV with local paths."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MRI_", "KERAS_"))}
    image_env = dockerfile.env("cpu")
    image_env.pop("PATH")
    env.update(image_env)
    env.update(path, MRI_MODELS_DIR=str(models_dir))
    return env


def healthcheck(dockerfile, port: int) -> int:
    """Run the image's HEALTHCHECK command against ``port``; its exit status."""
    cmd = list(dockerfile.effective("cpu", "HEALTHCHECK").exec_form)
    cmd[0] = sys.executable
    cmd[-1] = cmd[-1].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    return subprocess.run(cmd, timeout=30, capture_output=True, check=False).returncode


@pytest.mark.slow
def test_service_starts_like_the_image(dockerfile, models_dir, lgg_slices, tmp_path, cpu_image_site):
    with bound_socket() as sock:  # bound, nobody listening
        assert healthcheck(dockerfile, sock.getsockname()[1]) != 0, "it must fail when nothing listens"
    log_path = tmp_path / "service.log"
    python, path = image_python(cpu_image_site)
    env = service_env(dockerfile, models_dir, path)
    command = service_command(dockerfile, python)
    with serve_process(env, command, log=log_path, timeout=STARTUP_TIMEOUT_S) as (proc, url):
        assert healthcheck(dockerfile, urlsplit(url).port) == 0
        assert httpx.get(f"{url}/v2/health/live", timeout=10).status_code == 200

        image = lgg_slices[0]
        files = {"file": (image.name, image.read_bytes(), "image/tiff")}
        response = httpx.post(f"{url}/classify", files=files, timeout=120)
        assert response.status_code == 200, response.text
        body = response.json()
        served = httpx.get(f"{url}/v2/models", timeout=10).json()["models"]
        classifier = next(m for m in served if m["role"] == "classifier")
        # the bundled models on a slice of a tumour (TCGA_CS_4942_19970222_11, a validation patient)
        assert image.name == "TCGA_CS_4942_19970222_11.tif"
        assert body["has_tumour"] is True and body["tumour_probability"] >= classifier["threshold"]
        assert body["model"] == {"name": classifier["name"], "version": classifier["version"]}
        listed = httpx.get(f"{url}/v2/models", timeout=10).json()
        # auto: the image's two runtimes timed, the faster serves; Keras is not installed there
        assert listed["runtime"] in ("onnxruntime", "openvino") and listed["runtime_choice"]["measured"]
        timed = {c["runtime"] for c in listed["runtime_choice"]["candidates"] if c["ms"] is not None}
        assert timed == {"onnxruntime", "openvino"}
        keras = next(c for c in listed["runtime_choice"]["candidates"] if c["runtime"] == "keras")
        assert keras["refused"].startswith("MRI_RUNTIME=keras needs keras")
        # one structured line per request (the service's own), no second access line from uvicorn;
        # it is written once the answer has been sent, so give a loaded machine a moment
        line_deadline = time.monotonic() + 10
        while (
            "endpoint=/classify status=200" not in log_path.read_text() and time.monotonic() < line_deadline
        ):
            time.sleep(0.1)
        assert log_path.read_text().count("endpoint=/classify status=200") == 1
        assert '"POST /classify HTTP/1.1"' not in log_path.read_text()
    # stopped with SIGTERM (what `docker stop` sends); uvicorn re-raises it after a graceful
    # shutdown (exit 143 in Docker terms)
    log_text = log_path.read_text()
    assert proc.returncode in (0, -signal.SIGTERM), f"unclean stop ({proc.returncode}):\n{log_text[-4000:]}"
    assert "Application shutdown complete" in log_text
